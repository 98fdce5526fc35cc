import BcosEngine
import Foundation

/// Integrated Gradients (Sundararajan et al. 2017) as Captum's `IntegratedGradients` computes it with its defaults,
/// which is how the B-cos paper ran it (BCOS_REFERENCE §7):
///
///     attribution = (x − x̄) · Σ_i w_i ∇f(x̄ + α_i (x − x̄))
///
/// - `steps` = 50 (Captum's `n_steps` default).
/// - (α_i, w_i): Gauss–Legendre nodes and weights on [0, 1] (Captum's default `method="gausslegendre"`, which maps
///   numpy's `leggauss` nodes from [-1, 1]); computed here with Newton iterations on the Legendre polynomial.
/// - x̄: the black image, encoded (RGB 0, so `[0, 0, 0, 1, 1, 1]` per pixel with AddInverse), as in the paper.
/// - ∇f: the full gradient of the target logit (nothing detached). The interpolants are evaluated `batchSize` at a
///   time, one batched forward and backward each; several classes share the forward passes.
///
/// Completeness holds up to the quadrature error: Σ attribution ≈ f(x) − f(x̄); `integrate` reports the gap.
public struct IntegratedGradients: AttributionMethod {
    public let name = "intgrad"
    /// Quadrature nodes (interpolants between the baseline and the input).
    public var steps: Int
    /// The encoded baseline `[1, C, H, W]`; nil for the encoded black image.
    public var baseline: Tensor?
    /// Interpolants per forward + backward pass (fewer when they would not fit in about 512 MiB).
    public var batchSize: Int

    public init(steps: Int = 50, baseline: Tensor? = nil, batchSize: Int = 25) {
        precondition(steps >= 1 && batchSize >= 1, "IntegratedGradients needs steps >= 1 and batchSize >= 1")
        self.steps = steps
        self.baseline = baseline
        self.batchSize = batchSize
    }

    /// The attribution with the two logits that completeness compares it with.
    public struct Result: Sendable {
        public var map: AttributionMap
        /// f(x): the target logit of the input.
        public var logit: Float
        /// f(x̄): the target logit of the baseline.
        public var baselineLogit: Float

        /// |Σ attribution − (f(x) − f(x̄))|: the quadrature error (plus float rounding).
        public var completenessError: Double {
            abs(map.values.reduce(0.0) { $0 + Double($1) } - (Double(logit) - Double(baselineLogit)))
        }
    }

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try integrate(model, input: input, target: target).map
    }

    /// Several classes from the same forward passes over the interpolants.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        try integrate(model, input: input, targets: targets).map(\.map)
    }

    /// The attribution together with f(x) and f(x̄) for the completeness check.
    ///
    /// - Parameter input: one encoded image `[1, C, H, W]`.
    public func integrate(_ model: BcosModel, input: Tensor, target: Int) throws -> Result {
        try integrate(model, input: input, targets: [target])[0]
    }

    /// `integrate` for several classes, sharing each batch's forward pass.
    public func integrate(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [Result] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        let h = input.shape[2], w = input.shape[3], per = input.count
        let base = baseline ?? MethodSupport.blackInput(model, height: h, width: w)
        precondition(base.shape == input.shape, "baseline shape \(base.shape) differs from input \(input.shape)")
        let (alphas, weights) = Self.gaussLegendre(steps)
        let batch = MethodSupport.gradientBatch(model, height: h, width: w, preferred: batchSize)
        // Σ_i w_i ∇f_t(x_i) per target, [C*H*W] each.
        var sums = [[Double]](repeating: [Double](repeating: 0, count: per), count: targets.count)
        var start = 0
        while start < steps {
            let n = min(batch, steps - start)
            var x = Tensor(shape: [n] + input.shape.dropFirst()) // [n, C, H, W]
            for j in 0..<n {
                let a = Float(alphas[start + j])
                for e in 0..<per { x.data[j * per + e] = base.data[e] + a * (input.data[e] - base.data[e]) }
            }
            let grads = model.gradients(x, targets: targets).inputs // [n, C, H, W] per target
            for (t, g) in grads.enumerated() {
                for j in 0..<n {
                    let wj = weights[start + j]
                    for e in 0..<per { sums[t][e] += wj * Double(g.data[j * per + e]) }
                }
            }
            start += n
        }
        let ends = model.logits(Tensor.stack([input.item(0), base.item(0)])) // [2, K]
        let k = ends.shape[1]
        return targets.enumerated().map { t, target in
            var attribution = input // [1, C, H, W]
            for e in 0..<per { attribution.data[e] = Float(Double(input.data[e] - base.data[e]) * sums[t][e]) }
            return Result(map: MethodSupport.map(perChannel: attribution), logit: ends.data[target],
                          baselineLogit: ends.data[k + target])
        }
    }

    /// Gauss–Legendre quadrature of order `n` on [0, 1]: nodes in ascending order and weights summing to 1.
    ///
    /// The nodes are the roots of the Legendre polynomial P_n, found by Newton's method from the usual
    /// cos(π(i − 1/4)/(n + 1/2)) starting points; w = 2 / ((1 − z²) P_n'(z)²) on [-1, 1], halved for [0, 1].
    public static func gaussLegendre(_ n: Int) -> (nodes: [Double], weights: [Double]) {
        precondition(n >= 1, "Gauss–Legendre needs n >= 1, got \(n)")
        var nodes = [Double](), weights = [Double]()
        for i in 1...n {
            var z = cos(Double.pi * (Double(i) - 0.25) / (Double(n) + 0.5))
            for _ in 0..<100 {
                let (p, dp) = legendre(n, z)
                let step = p / dp
                z -= step
                if abs(step) < 1e-15 { break }
            }
            let derivative = legendre(n, z).derivative
            nodes.append((1 + z) / 2)
            weights.append(1 / ((1 - z * z) * derivative * derivative))
        }
        let order = nodes.indices.sorted { nodes[$0] < nodes[$1] }
        return (order.map { nodes[$0] }, order.map { weights[$0] })
    }

    /// P_n(z) and P_n'(z) by the three-term recurrence.
    private static func legendre(_ n: Int, _ z: Double) -> (value: Double, derivative: Double) {
        var previous = 1.0, current = z // P_0, P_1
        for k in stride(from: 2, through: n, by: 1) {
            let next = (Double(2 * k - 1) * z * current - Double(k - 1) * previous) / Double(k)
            previous = current
            current = next
        }
        // P_n'(z) = n (z P_n − P_{n−1}) / (z² − 1); the roots lie strictly inside (-1, 1).
        return (current, Double(n) * (z * current - previous) / (z * z - 1))
    }
}
