import BcosEngine

/// The paper's localisation metric, the grid pointing game (BCOS_REFERENCE §6).
///
/// Correctly and confidently classified test images of `n * n` different classes are tiled into one `n x n` grid;
/// a method explains each cell's class on the whole grid, and scores the share of the positive attribution that falls
/// inside that cell (1 perfect, `1 / n²` for a uniform map). Grid construction follows the official procedure with
/// seed 42, but the random draws come from our `SplitMix64`, not numpy's `RandomState`, so our grids are different
/// images from the official ones, chosen the same way.
public enum Localisation {
    /// How one test image was classified: what grid construction needs to know about it.
    public struct Prediction: Sendable, Equatable {
        /// The true class.
        public var label: Int
        /// The class with the largest logit.
        public var predicted: Int
        /// The logit of the true class.
        public var logit: Float

        /// A classified image: its true class, the predicted class and the true class's logit.
        public init(label: Int, predicted: Int, logit: Float) {
            self.label = label
            self.predicted = predicted
            self.logit = logit
        }

        /// Whether the image was classified correctly.
        public var correct: Bool { label == predicted }
        /// Whether sigmoid(logit) > 0.5, i.e. logit > 0.
        public var confident: Bool { logit > 0 }
    }

    /// Labelled images of one size to play on, read in batches (a dataset split, or generated images in tests).
    public struct Images {
        /// Number of images, `labels.count`.
        public let count: Int
        /// Channels per image (1 or 3), as the model's `imageChannels`.
        public let channels: Int
        /// Image height in pixels.
        public let height: Int
        /// Image width in pixels.
        public let width: Int
        /// `[count]` true classes.
        public let labels: [Int]
        /// Images for the given indices: `[B, channels, height, width]` floats in [0, 1], unencoded.
        public let fetch: ([Int]) -> [Float]

        /// Images of `channels x height x width` with their `labels`, read through `fetch`.
        public init(channels: Int, height: Int, width: Int, labels: [Int], fetch: @escaping ([Int]) -> [Float]) {
            self.count = labels.count
            self.channels = channels
            self.height = height
            self.width = width
            self.labels = labels
            self.fetch = fetch
        }
    }

    /// Classifies every image with batched forward passes.
    ///
    /// - Parameters:
    ///   - model: a model whose `imageChannels` match the images.
    ///   - images: the images and their labels.
    ///   - batchSize: images per forward pass.
    /// - Returns: `[images.count]` predictions, in image order.
    public static func predictions(_ model: BcosModel, images: Images, batchSize: Int? = nil) -> [Prediction] {
        let batchSize = batchSize ?? model.inferenceBatch(height: images.height, width: images.width)
        var out = [Prediction]()
        out.reserveCapacity(images.count)
        model.logits(count: images.count, batch: batchSize, input: {
            model.encode(Tensor(shape: [$0.count, images.channels, images.height, images.width], data: images.fetch(Array($0))))
        }) { range, logits in  // [B, K]
            let k = logits.shape[1]
            for (row, predicted) in logits.argmaxRows().enumerated() {
                let label = images.labels[range.lowerBound + row]
                out.append(Prediction(label: label, predicted: predicted, logit: logits.data[row * k + label]))
            }
            return true
        }
        return out
    }

    /// Which images go into which grid.
    public struct Plan: Sendable, Equatable {
        /// Per grid, the `n * n` image indices; entry `k` goes to cell `k` (see `cell(_:n:height:width:)`).
        public var grids: [[Int]]
        /// Per grid, the class of each cell (the label of the image there).
        public var classes: [[Int]]
        /// How many classes had at least one correct image with sigmoid(logit) > 0.5 before drawing.
        public var qualifyingClasses: Int
    }

    /// Draws the grids (BCOS_REFERENCE §6, steps 1-2).
    ///
    /// Correct images are sorted per class by the logit of their class, descending (ties: lower index first).
    /// While more than `n * n` classes still have an unused image with sigmoid(logit) > 0.5, draws `n * n` distinct
    /// such classes uniformly without replacement and takes each one's next most confident image, the `k`-th drawn
    /// class going to cell `k`; stops after `grids` grids.
    ///
    /// - Parameters:
    ///   - predictions: `[N]` one per image, in image order.
    ///   - classes: number of classes; every label lies in `0..<classes`.
    ///   - n: grid side, >= 1.
    ///   - grids: the most grids to draw.
    ///   - seed: seed of the `SplitMix64` generator (42, as the paper).
    public static func plan(_ predictions: [Prediction], classes: Int, n: Int, grids: Int, seed: UInt64 = 42) -> Plan {
        precondition(n >= 1 && grids >= 0, "plan needs n >= 1 and grids >= 0, got n \(n), grids \(grids)")
        var queues = [[Int]](repeating: [], count: classes)
        for (i, p) in predictions.enumerated() where p.correct && p.confident {
            queues[p.label].append(i)
        }
        for c in 0..<classes {
            queues[c].sort { (predictions[$0].logit, -$0) > (predictions[$1].logit, -$1) }
        }
        var next = [Int](repeating: 0, count: classes)
        var rng = SplitMix64(seed: seed)
        let cells = n * n
        var plan = Plan(grids: [], classes: [], qualifyingClasses: queues.filter { !$0.isEmpty }.count)
        while plan.grids.count < grids {
            var available = (0..<classes).filter { next[$0] < queues[$0].count }
            guard available.count > cells else { break }
            // Partial Fisher-Yates: the first `cells` entries become a uniform draw without replacement.
            for k in 0..<cells {
                available.swapAt(k, k + uniform(below: available.count - k, using: &rng))
            }
            let drawn = Array(available.prefix(cells))
            plan.grids.append(drawn.map { queues[$0][next[$0]] })
            plan.classes.append(drawn)
            for c in drawn { next[c] += 1 }
        }
        return plan
    }

    /// Uniform in `0..<bound` without modulo bias (rejection sampling), so draws depend only on the seed.
    static func uniform(below bound: Int, using rng: inout SplitMix64) -> Int {
        let b = UInt64(bound)
        let threshold = (0 &- b) % b  // 2^64 mod b: values below it would favour small results
        while true {
            let r = rng.next()
            if r >= threshold { return Int(r % b) }
        }
    }

    /// The rectangle of cell `k` in an `n x n` grid of `height x width`: row `k mod n`, column `k div n`
    /// (column-major, as the official code).
    ///
    /// - Returns: top row `y`, left column `x` and the cell size `h x w` (`height / n x width / n`).
    public static func cell(_ k: Int, n: Int, height: Int, width: Int) -> (y: Int, x: Int, h: Int, w: Int) {
        precondition(k >= 0 && k < n * n, "cell \(k) of a \(n)x\(n) grid")
        precondition(height % n == 0 && width % n == 0, "a \(n)x\(n) grid cannot be \(height)x\(width)")
        let h = height / n, w = width / n
        return ((k % n) * h, (k / n) * w, h, w)
    }

    /// Tiles `n * n` images into one grid image (step 3).
    ///
    /// - Parameters:
    ///   - images: `[n * n, channels, height, width]`; image `k` goes to cell `k`.
    /// - Returns: `[channels, n * height, n * width]`.
    public static func tile(_ images: [Float], n: Int, channels: Int, height: Int, width: Int) -> Tensor {
        let per = channels * height * width
        precondition(images.count == n * n * per, "tile of \(n * n) images [\(channels), \(height), \(width)] "
                     + "needs \(n * n * per) values, got \(images.count)")
        let gh = n * height, gw = n * width
        var grid = Tensor(shape: [channels, gh, gw])
        for k in 0..<(n * n) {
            let r = cell(k, n: n, height: gh, width: gw)
            for c in 0..<channels {
                for y in 0..<height {
                    let src = k * per + (c * height + y) * width
                    let dst = (c * gh + r.y + y) * gw + r.x
                    grid.data.replaceSubrange(dst..<(dst + width), with: images[src..<(src + width)])
                }
            }
        }
        return grid
    }

    /// The localisation score of one cell (step 4): the share of the positive attribution inside cell `cell`.
    ///
    /// - Parameters:
    ///   - map: `[h, w]` attribution of the cell's class on the whole grid, summed over channels.
    ///   - h: grid height, a multiple of `n`.
    ///   - w: grid width, a multiple of `n`.
    ///   - n: grid side.
    ///   - cell: in `0..<n*n`, column-major (see `cell(_:n:height:width:)`).
    ///   - smooth: odd mean-filter size applied to the signed map before clamping at 0; 1 for none.
    /// - Returns: positive mass in the cell / total positive mass, in [0, 1]; 0 if there is no positive mass.
    public static func score(map: [Float], h: Int, w: Int, n: Int, cell k: Int, smooth: Int = 1) -> Double {
        precondition(map.count == h * w, "map of \(map.count) values for \(h)x\(w)")
        let plane = Visualize.meanFilter(map, height: h, width: w, size: smooth)
        let r = cell(k, n: n, height: h, width: w)
        var total = 0.0, inside = 0.0
        for y in 0..<h {
            let rowInCell = y >= r.y && y < r.y + r.h
            for x in 0..<w {
                let v = Double(max(0, plane[y * w + x]))
                total += v
                if rowInCell && x >= r.x && x < r.x + r.w { inside += v }
            }
        }
        return total > 0 ? inside / total : 0
    }

    /// The q-quantile (q in [0, 1]) of sorted values, interpolating linearly between order statistics as numpy does.
    public static func quantile(sorted values: [Double], _ q: Double) -> Double {
        precondition(!values.isEmpty, "quantile of nothing")
        let pos = q * Double(values.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, values.count - 1)
        return values[lo] + (values[hi] - values[lo]) * (pos - Double(lo))
    }

    /// The distribution of scores: median and quartiles (numpy's linear interpolation), mean, extremes.
    public struct Summary: Sendable, Equatable {
        /// Number of scores.
        public var count: Int
        /// Arithmetic mean.
        public var mean: Double
        /// 50th percentile.
        public var median: Double
        /// 25th percentile.
        public var q1: Double
        /// 75th percentile.
        public var q3: Double
        /// Smallest score.
        public var min: Double
        /// Largest score.
        public var max: Double

        /// - Parameter scores: at least one value.
        public init(_ scores: [Double]) {
            let s = scores.sorted()
            count = s.count
            mean = s.reduce(0, +) / Double(s.count)
            median = Localisation.quantile(sorted: s, 0.5)
            q1 = Localisation.quantile(sorted: s, 0.25)
            q3 = Localisation.quantile(sorted: s, 0.75)
            min = s[0]
            max = s[s.count - 1]
        }
    }

    /// One method's scores (at one smoothing).
    public struct MethodScores: Sendable {
        /// The method's name (`AttributionMethod.name`).
        public var name: String
        /// The mean-filter size its maps were smoothed with before clamping (1: none).
        public var smooth: Int = 1
        /// Grid by grid, cell by cell: `[grids * n * n]` (fewer grids for a method given a grid limit).
        public var scores: [Double]
        /// Median, quartiles, mean and extremes of `scores`.
        public var summary: Summary { Summary(scores) }
    }

    /// The first grid with every method's map for its cell 0, for a picture.
    public struct Example: Sendable {
        /// The grid image, unencoded, `[C, n*H, n*W]` in [0, 1].
        public var image: Tensor
        /// Grid side.
        public var n: Int
        /// The explained cell (column-major index).
        public var cell: Int
        /// That cell's class.
        public var classIndex: Int
        /// Per method, its signed map `[n*H, n*W]` for the cell's class, smoothed as it was scored.
        public var maps: [(name: String, values: [Float])]
    }

    /// The outcome of a run.
    public struct Report: Sendable {
        /// Grid side.
        public var n: Int
        /// The mean-filter sizes the maps were scored with (1: none), in the order given.
        public var smooths: [Int]
        /// The first of `smooths` (the one the example maps show).
        public var smooth: Int { smooths[0] }
        /// The grids played and how many classes qualified.
        public var plan: Plan
        /// Every method at the first smoothing in the order the methods were given, then every method at the next.
        public var methods: [MethodScores]
        /// The first grid and every method's map for its cell 0.
        public var example: Example
        /// Number of grids played.
        public var grids: Int { plan.grids.count }
    }

    /// Plays the grid pointing game: classifies the images, draws up to `grids` grids, and scores every cell with
    /// every method.
    ///
    /// - Parameters:
    ///   - model: the classifier; fully convolutional, so it runs on the `n`-times larger grid.
    ///   - images: the test images.
    ///   - n: grid side, >= 1.
    ///   - grids: the most grids to play, >= 1; fewer when the confident images run out.
    ///   - methods: the attribution methods to score.
    ///   - gridLimits: for methods named here, play only this many of the grids (the first ones): slow sampling
    ///     methods on fewer grids than the fast ones.
    ///   - smooth: odd mean-filter size for the maps before clamping; 1 for none.
    ///   - smooths: several sizes instead, each scoring the same maps (the maps are computed once).
    ///   - seed: grid drawing seed.
    ///   - progress: called with (0, grids planned) once the images are classified and the grids drawn, then after
    ///     each grid with (grids done, grids planned).
    /// - Throws: `BcosError` when not even one grid can be drawn (fewer than n² + 1 classes have a correct,
    ///   confident image), or what a method throws.
    public static func run(_ model: BcosModel, images: Images, n: Int, grids: Int, methods: [any AttributionMethod],
                           gridLimits: [String: Int] = [:], smooth: Int = 1, smooths: [Int]? = nil, seed: UInt64 = 42,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        precondition(!methods.isEmpty, "localisation needs at least one method")
        let smooths = smooths ?? [smooth]
        precondition(!smooths.isEmpty && smooths.allSatisfy { $0 >= 1 && $0 % 2 == 1 }, "smoothing sizes \(smooths)")
        let preds = predictions(model, images: images)
        let plan = Self.plan(preds, classes: model.config.numClasses, n: n, grids: grids, seed: seed)
        guard !plan.grids.isEmpty else {
            let correct = preds.filter(\.correct).count
            let have = plan.qualifyingClasses == 1 ? "has" : "have"
            throw BcosError("only \(plan.qualifyingClasses) of the \(model.config.numClasses) classes \(have) a correctly "
                            + "classified image with sigmoid(logit) > 0.5 (\(correct) of \(images.count) images correct); "
                            + "a \(n)x\(n) grid needs more than \(n * n) such classes; use a smaller --grid or more data")
        }
        progress(0, plan.grids.count)
        let gh = n * images.height, gw = n * images.width
        var scores = [[Double]](repeating: [], count: methods.count * smooths.count) // [smooth][method]
        var example: Example?
        for (g, members) in plan.grids.enumerated() {
            let grid = tile(images.fetch(members), n: n, channels: images.channels,
                            height: images.height, width: images.width)
            let input = model.encode(grid.reshaped([1] + grid.shape))
            var exampleMaps = [(name: String, values: [Float])]()
            for (m, method) in methods.enumerated() where g < (gridLimits[method.name] ?? Int.max) {
                // All cells' classes at once: sampling methods share their forward passes between them.
                let maps = try method.attribute(model, input: input, targets: plan.classes[g])
                for (k, map) in maps.enumerated() {
                    precondition(map.height == gh && map.width == gw,
                                 "\(method.name) returned a \(map.width)x\(map.height) map for a \(gw)x\(gh) grid")
                    for (si, sm) in smooths.enumerated() {
                        scores[si * methods.count + m].append(score(map: map.values, h: gh, w: gw, n: n, cell: k, smooth: sm))
                    }
                    if g == 0 && k == 0 {
                        exampleMaps.append((method.name,
                                            Visualize.meanFilter(map.values, height: gh, width: gw, size: smooths[0])))
                    }
                }
            }
            if g == 0 {
                example = Example(image: grid, n: n, cell: 0, classIndex: plan.classes[0][0], maps: exampleMaps)
            }
            progress(g + 1, plan.grids.count)
        }
        let all = smooths.enumerated().flatMap { si, sm in
            methods.enumerated().map { m, method in
                MethodScores(name: method.name, smooth: sm, scores: scores[si * methods.count + m])
            }
        }
        return Report(n: n, smooths: smooths, plan: plan, methods: all, example: example!)
    }
}
