import BcosEngine
import Foundation

/// LIME for images (Ribeiro et al. 2016) as the `lime` package's `LimeImageExplainer` runs with its defaults, which
/// the B-cos paper used (BCOS_REFERENCE §7), except for the superpixels:
///
/// - Superpixels: our own SLIC (`SLIC.segment`, CIELAB + position, compactness 10) instead of quickshift
///   (kernel 4, max_dist 200, ratio 0.2), which at 32 px gives a handful of segments or one per pixel depending on
///   the image. Default count: one per 25 pixels (about 40 at 32 px, 31 at 28 px), at most 100.
/// - Samples: 500 random on/off vectors over the superpixels, each superpixel on with probability 1/2, the first
///   sample all on (lime's `data[0, :] = 1`). An "off" superpixel takes its mean colour (lime's default
///   `hide_color=None`), computed per encoded channel (the same as the mean RGB colour, encoded).
/// - Score: the model's sigmoid probability of the target class (B-cos models are trained with BCE).
/// - Weights: sqrt(exp(−d² / 0.25²)), d = cosine distance between the sample and the all-on vector
///   (lime's `kernel_width=0.25` exponential kernel).
/// - Model: weighted ridge regression, alpha 1, with an unpenalised intercept (lime's `Ridge(alpha=1)`), solved in
///   closed form (Cholesky of the `[K, K]` normal equations).
/// - Values: each pixel gets its superpixel's coefficient. The paper shows the top-5 positive superpixels
///   (`get_image_and_mask(positive_only=True, num_features=5)`): `Result.topMask`.
/// - Samples are drawn from `seed` (SplitMix64) and evaluated `batchSize` per forward pass.
public struct LIME: AttributionMethod {
    public let name = "lime"
    /// Perturbed samples (including the all-on first one).
    public var samples: Int
    /// Superpixels to aim at; nil for one per 25 pixels, at most 100.
    public var segments: Int?
    /// SLIC compactness.
    public var compactness: Double
    /// Width of the exponential kernel on the cosine distance.
    public var kernelWidth: Double
    /// Ridge penalty.
    public var alpha: Double
    public var seed: UInt64
    /// Perturbed images per forward pass (fewer for large images).
    public var batchSize: Int

    public init(samples: Int = 500, segments: Int? = nil, compactness: Double = 10, kernelWidth: Double = 0.25,
                alpha: Double = 1, seed: UInt64 = 0, batchSize: Int = 32) {
        precondition(samples >= 1 && kernelWidth > 0 && alpha > 0 && batchSize >= 1 && (segments ?? 1) >= 1,
                     "LIME needs samples >= 1, kernelWidth > 0, alpha > 0, batchSize >= 1, segments >= 1")
        self.samples = samples
        self.segments = segments
        self.compactness = compactness
        self.kernelWidth = kernelWidth
        self.alpha = alpha
        self.seed = seed
        self.batchSize = batchSize
    }

    /// A LIME explanation: the superpixels, the linear model fitted on them, and the per-pixel map.
    public struct Result: Sendable {
        public var map: AttributionMap
        /// Superpixel of every pixel `[H*W]`, in 0..<segmentCount.
        public var segments: [Int]
        public var segmentCount: Int
        /// The ridge coefficient of every superpixel.
        public var coefficients: [Double]
        public var intercept: Double

        /// Up to `count` superpixels with positive coefficients, largest first.
        public func topSegments(_ count: Int = 5) -> [Int] {
            Array(coefficients.indices.filter { coefficients[$0] > 0 }.sorted { coefficients[$0] > coefficients[$1] }.prefix(count))
        }

        /// Which pixels `[H*W]` belong to the top `count` positive superpixels (the paper's LIME picture).
        public func topMask(_ count: Int = 5) -> [Bool] {
            let top = Set(topSegments(count))
            return segments.map { top.contains($0) }
        }
    }

    /// Superpixels to aim at for an image of `height x width`.
    public func segmentCount(height: Int, width: Int) -> Int {
        segments ?? max(1, min(100, height * width / 25))
    }

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try explain(model, input: input, target: target).map
    }

    /// Every class from the same samples and forward passes, one ridge fit each.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        try explain(model, input: input, targets: targets).map(\.map)
    }

    /// Superpixels, fitted linear model and map for one encoded image `[1, C, H, W]`.
    public func explain(_ model: BcosModel, input: Tensor, target: Int) throws -> Result {
        try explain(model, input: input, targets: [target])[0]
    }

    /// `explain` for several classes from the same superpixels, samples and forward passes.
    public func explain(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [Result] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        let c = input.shape[1], h = input.shape[2], w = input.shape[3], p = h * w
        let imageChannels = model.config.imageChannels
        let (labels, k) = SLIC.segment(Array(input.data[0..<(imageChannels * p)]), channels: imageChannels,
                                       height: h, width: w, segments: segmentCount(height: h, width: w),
                                       compactness: compactness)
        // The superpixels' mean encoded colours: [C, K].
        var means = [Float](repeating: 0, count: c * k)
        var sizes = [Float](repeating: 0, count: k)
        for i in 0..<p { sizes[labels[i]] += 1 }
        for ch in 0..<c {
            for i in 0..<p { means[ch * k + labels[i]] += input.data[ch * p + i] }
            for s in 0..<k { means[ch * k + s] /= sizes[s] }
        }
        let batch = model.inferenceBatch(height: h, width: w, preferred: batchSize, budget: 256 << 20)
        let fits = regressMany(features: k, batch: batch, outputs: targets.count) { group in
            MethodSupport.logitRows(model, targets: targets, count: group.count, shape: [c, h, w],
                                    batch: batch) { j, buf in
                let on = group[j]
                for ch in 0..<c {
                    for i in 0..<p { buf[ch * p + i] = on[labels[i]] ? input.data[ch * p + i] : means[ch * k + labels[i]] }
                }
            }.map { $0.map(sigmoid) }
        }
        return fits.map { fit in
            Result(map: AttributionMap(height: h, width: w, values: labels.map { Float(fit.coefficients[$0]) }),
                   segments: labels, segmentCount: k, coefficients: fit.coefficients, intercept: fit.intercept)
        }
    }

    /// LIME's sampling and fit for any scorer: draws `samples` on/off vectors over `features` interpretable features
    /// (the first all on), asks `score` for one number per vector, `batch` vectors at a time, and fits the
    /// kernel-weighted ridge model.
    public func regress(features k: Int, batch: Int,
                        score: (_ samples: [[Bool]]) throws -> [Float]) rethrows -> (coefficients: [Double], intercept: Double) {
        try regressMany(features: k, batch: batch, outputs: 1) { try score($0).map { [$0] } }[0]
    }

    /// `regress` with `outputs` scores per vector (one per class): the same samples, one ridge fit per output.
    public func regressMany(features k: Int, batch: Int, outputs: Int,
                            score: (_ samples: [[Bool]]) throws -> [[Float]]) rethrows
        -> [(coefficients: [Double], intercept: Double)] {
        var rng = SplitMix64(seed: seed)
        var all = [[Bool]](), targets = [[Double]](repeating: [], count: outputs)
        while all.count < samples {
            let group = (0..<min(batch, samples - all.count)).map { j in
                all.isEmpty && j == 0 ? [Bool](repeating: true, count: k) : (0..<k).map { _ in rng.next() & 1 == 1 }
            }
            let scores = try score(group)
            precondition(scores.count == group.count && scores.allSatisfy { $0.count == outputs },
                         "LIME scorer returned \(scores.count) score rows for \(group.count) samples")
            all += group
            for o in 0..<outputs { targets[o] += scores.map { Double($0[o]) } }
        }
        let weights = all.map { z in Self.kernel(z, width: kernelWidth) }
        return targets.map { Self.ridge(all, targets: $0, weights: weights, alpha: alpha) }
    }

    /// lime's kernel weight of a sample: sqrt(exp(−d² / width²)), d = cosine distance from the all-on vector
    /// (1 for the all-off vector, as sklearn's `pairwise_distances(metric="cosine")` gives).
    public static func kernel(_ z: [Bool], width: Double) -> Double {
        let on = Double(z.lazy.filter { $0 }.count)
        let d = on == 0 ? 1 : 1 - (on / Double(z.count)).squareRoot()
        return exp(-d * d / (width * width)).squareRoot()
    }

    /// Weighted ridge regression with an unpenalised intercept (sklearn `Ridge(alpha).fit(X, y, sample_weight)`):
    /// minimises Σ_i w_i (y_i − b − x_i·β)² + alpha |β|² by centring on the weighted means and solving
    /// (Xcᵀ W Xc + alpha I) β = Xcᵀ W yc with a Cholesky factorisation.
    public static func ridge(_ x: [[Bool]], targets y: [Double], weights: [Double],
                             alpha: Double) -> (coefficients: [Double], intercept: Double) {
        precondition(!x.isEmpty && x.count == y.count && y.count == weights.count,
                     "ridge of \(x.count) rows, \(y.count) targets, \(weights.count) weights")
        let k = x[0].count, n = x.count
        let total = weights.reduce(0, +)
        var mean = [Double](repeating: 0, count: k)
        var yMean = 0.0
        for i in 0..<n {
            yMean += weights[i] * y[i]
            for f in 0..<k where x[i][f] { mean[f] += weights[i] }
        }
        yMean /= total
        for f in 0..<k { mean[f] /= total }
        var a = [Double](repeating: 0, count: k * k) // [K, K]
        var b = [Double](repeating: 0, count: k)
        var row = [Double](repeating: 0, count: k)
        for i in 0..<n {
            for f in 0..<k { row[f] = (x[i][f] ? 1 : 0) - mean[f] }
            let wi = weights[i], yi = y[i] - yMean
            for f in 0..<k {
                let wf = wi * row[f]
                b[f] += wf * yi
                for g in 0...f { a[f * k + g] += wf * row[g] }
            }
        }
        for f in 0..<k { a[f * k + f] += alpha }
        let beta = choleskySolve(a, b, k)
        let intercept = yMean - zip(mean, beta).reduce(0) { $0 + $1.0 * $1.1 }
        return (beta, intercept)
    }

    /// Solves A β = b for symmetric positive definite `A` `[K, K]`, of which only the lower triangle is read.
    static func choleskySolve(_ a: [Double], _ b: [Double], _ k: Int) -> [Double] {
        var l = [Double](repeating: 0, count: k * k) // lower triangle of A = L Lᵀ
        for i in 0..<k {
            for j in 0...i {
                var s = a[i * k + j]
                for m in 0..<j { s -= l[i * k + m] * l[j * k + m] }
                l[i * k + j] = i == j ? max(s, 1e-300).squareRoot() : s / l[j * k + j]
            }
        }
        var z = b
        for i in 0..<k {
            for m in 0..<i { z[i] -= l[i * k + m] * z[m] }
            z[i] /= l[i * k + i]
        }
        for i in stride(from: k - 1, through: 0, by: -1) {
            for m in (i + 1)..<k { z[i] -= l[m * k + i] * z[m] }
            z[i] /= l[i * k + i]
        }
        return z
    }
}
