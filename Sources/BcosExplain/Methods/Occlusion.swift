import BcosEngine

/// Occlusion (Zeiler & Fergus 2014) as Captum's `Occlusion` computes it (BCOS_REFERENCE §7): a black square slides
/// over the image; each placement's effect is the logit drop `f(x) − f(x with the window black)`, and a pixel's
/// attribution is the mean drop over the placements that cover it (Captum gives every pixel of a window the window's
/// full drop and divides by the number of windows covering the pixel).
///
/// - Window: `window` x `window` pixels, all channels; default round(min(H, W) / 4), i.e. 8 at 32 px and 56 at
///   224 px, so the window covers the same fraction of the image at every size (the paper does not give its
///   CIFAR-10 setting).
/// - Stride: default half the window (4 at 32 px).
/// - Placements: Captum's: offsets 0, stride, 2·stride, … per axis, ⌈(size − window) / stride⌉ + 1 of them, the
///   last one cut off at the border, so every pixel is covered.
/// - Black: RGB 0, then encoded (`[0, 0, 0, 1, 1, 1]` with AddInverse). A placement that changes no pixel
///   (the region is black already) has drop 0 without running the network.
/// - Values: Captum's attribution is `[C, H, W]` with the same value in every channel of a pixel (the window spans
///   all channels); `values` is that per-pixel value, not its sum over the C encoded channels, which would be C
///   times it (a factor the AddInverse encoding doubles, and that changes no ranking or normalised map).
/// - Occluded images are evaluated `batchSize` per pass, each recomputing only what its window can reach
///   (`Network.forwardLocal`).
public struct Occlusion: AttributionMethod {
    public let name = "occlusion"
    /// Window side in pixels; nil for round(min(H, W) / 4).
    public var window: Int?
    /// Step between placements; nil for half the window.
    public var stride: Int?
    /// Occluded images per forward pass (fewer for large images).
    public var batchSize: Int
    /// Recompute only what each window can reach (`Network.forwardLocal`); false runs full forward passes (the
    /// baseline `bcos bench --methods --grid` compares with).
    public var localPasses: Bool

    public init(window: Int? = nil, stride: Int? = nil, batchSize: Int = 32, localPasses: Bool = true) {
        precondition(batchSize >= 1, "Occlusion needs batchSize >= 1")
        self.window = window
        self.stride = stride
        self.batchSize = batchSize
        self.localPasses = localPasses
    }

    /// The window side and stride used for an image of `height x width`.
    public func geometry(height: Int, width: Int) throws -> (window: Int, stride: Int) {
        let win = window ?? max(1, Int((Double(min(height, width)) / 4).rounded()))
        let step = stride ?? max(1, win / 2)
        guard win >= 1 && win <= min(height, width) else {
            throw BcosError("occlusion window \(win) must be between 1 and the image's shorter side \(min(height, width))")
        }
        guard step >= 1 && step <= win else {
            throw BcosError("occlusion stride \(step) must be between 1 and the window \(win)")
        }
        return (win, step)
    }

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try attribute(model, input: input, targets: [target])[0]
    }

    /// Every class from the same occluded forward passes.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        let c = input.shape[1], h = input.shape[2], w = input.shape[3], p = h * w
        let (win, step) = try geometry(height: h, width: w)
        let black = MethodSupport.blackInput(model, height: h, width: w)
        func starts(_ size: Int) -> [Int] {
            let count = (size - win + step - 1) / step + 1
            return (0..<count).map { $0 * step }
        }
        var windows = [(y: Range<Int>, x: Range<Int>)]()
        for y0 in starts(h) {
            for x0 in starts(w) { windows.append((y0..<min(h, y0 + win), x0..<min(w, x0 + win))) }
        }
        let changes = windows.map { win in
            (0..<c).contains { ch in
                win.y.contains { y in win.x.contains { x in input.data[ch * p + y * w + x] != black.data[ch * p + y * w + x] } }
            }
        }
        let evaluated = windows.indices.filter { changes[$0] }
        let batch = model.inferenceBatch(height: h, width: w, preferred: batchSize, budget: 256 << 20)
        let rows = localPasses
            ? localRows(model, input: input, black: black, windows: windows, evaluated: evaluated, window: win,
                        targets: targets, batch: batch)
            : MethodSupport.logitRows(model, targets: targets, count: evaluated.count + 1,
                                      shape: Array(input.shape.dropFirst()), batch: batch) { i, buf in
                // Entry 0 is the unoccluded input.
                _ = buf.update(fromContentsOf: input.data)
                guard i > 0 else { return }
                let cut = windows[evaluated[i - 1]]
                for ch in 0..<c {
                    for y in cut.y { for x in cut.x { buf[ch * p + y * w + x] = black.data[ch * p + y * w + x] } }
                }
            }
        return targets.indices.map { t in
            var total = [Float](repeating: 0, count: p), covered = [Float](repeating: 0, count: p)
            var drop = [Float](repeating: 0, count: windows.count)
            for (j, i) in evaluated.enumerated() { drop[i] = rows[0][t] - rows[j + 1][t] }
            for (i, win) in windows.enumerated() {
                for y in win.y {
                    for x in win.x {
                        total[y * w + x] += drop[i]
                        covered[y * w + x] += 1
                    }
                }
            }
            return AttributionMap(height: h, width: w, values: (0..<p).map { total[$0] / covered[$0] })
        }
    }

    /// The target logits of the input (row 0) and of each evaluated occlusion (rows 1...): each occluded image
    /// differs from the input only inside its window, so `forwardLocal` recomputes every layer only where the window
    /// can reach (the same logits as full passes, up to float rounding).
    private func localRows(_ model: BcosModel, input: Tensor, black: Tensor, windows: [(y: Range<Int>, x: Range<Int>)],
                           evaluated: [Int], window win: Int, targets: [Int], batch: Int) -> [[Float]] {
        let c = input.shape[1], h = input.shape[2], w = input.shape[3], p = h * w
        let base = model.network.forward(input, record: .explanation)
        let k = base.output.shape[1]
        var rows = [targets.map { base.output.data[$0] }]
        var start = 0
        while start < evaluated.count {
            let chunk = evaluated[start..<min(evaluated.count, start + batch)]
            // One rectangle size for the batch: the full window, moved inside the image where the window was cut.
            let origins = chunk.map { i in (y: min(windows[i].y.lowerBound, h - win), x: min(windows[i].x.lowerBound, w - win)) }
            var values = Tensor(shape: [chunk.count, c, win, win])
            for (b, i) in chunk.enumerated() {
                let o = origins[b], cut = windows[i]
                for ch in 0..<c {
                    for y in 0..<win {
                        for x in 0..<win {
                            let yy = o.y + y, xx = o.x + x
                            let source = cut.y.contains(yy) && cut.x.contains(xx) ? black : input
                            values.data[((b * c + ch) * win + y) * win + x] = source.data[ch * p + yy * w + xx]
                        }
                    }
                }
            }
            let logits = model.network.forwardLocal(base: base, origins: origins, height: win, width: win, values: values)
            for b in 0..<chunk.count { rows.append(targets.map { logits.data[b * k + $0] }) }
            start += chunk.count
        }
        return rows
    }
}
