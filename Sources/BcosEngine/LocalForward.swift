/// Forward passes of images that differ from one base image only inside a small rectangle (occlusion windows).
///
/// Every op of the graph is local in space up to the global pool: a node's output can differ from the base pass only
/// where its receptive field meets a changed input position. `forwardLocal` carries, per node and per variant, that
/// changed rectangle (grown by each conv's kernel, shrunk by its stride) and the node's values inside it; each conv
/// runs on a crop of its input (base values, the changed values laid over them, zeros where the padding is) with no
/// padding of its own, so each output is computed from exactly the inputs the full pass would use. The global pool
/// then adds the change to the base pass's sums. On the v1 CIFAR-10 net and a 9x9 window on a 96x96 grid this is about
/// a tenth of the work of full passes.
extension Network {
    /// A rectangle of positions `[y, y + h) x [x, x + w)`; empty when `h` or `w` is 0.
    struct Rect: Equatable {
        var y: Int, x: Int, h: Int, w: Int
        var isEmpty: Bool { h <= 0 || w <= 0 }
        static let empty = Rect(y: 0, x: 0, h: 0, w: 0)

        /// The smallest rectangle holding both (an empty one adds nothing).
        func union(_ o: Rect) -> Rect {
            if isEmpty { return o }
            if o.isEmpty { return self }
            let y0 = min(y, o.y), x0 = min(x, o.x)
            return Rect(y: y0, x: x0, h: max(y + h, o.y + o.h) - y0, w: max(x + w, o.x + o.w) - x0)
        }
    }

    /// Where a node's values may differ from the base pass, per variant, and those values.
    ///
    /// `rects[b]` is the exact changed rectangle of variant b; `origins[b]` places a `size`-sized window that holds it
    /// (one size for the whole batch, so the values form one tensor). `values` is `[B, C, size.h, size.w]`, or the
    /// node's whole output `[B, ...]` when `full`.
    struct Patch {
        var rects: [Rect]
        var origins: [(y: Int, x: Int)]
        var h: Int, w: Int
        var values: Tensor
        var full: Bool
    }

    /// The last node's output for `B` variants of the base image, variant `b` equal to it except inside the
    /// `height x width` rectangle at `origins[b]` (input coordinates), where it holds `values[b]`.
    ///
    /// - Parameters:
    ///   - base: `forward(image, record: .explanation)` (or `.training`) of the unchanged image, batch 1: every
    ///     node's output is kept.
    ///   - origins: top-left corner of each variant's rectangle; the rectangles lie inside the image.
    ///   - values: `[B, C, height, width]`.
    /// - Returns: the same as `forward(variants).output`, up to float rounding.
    public func forwardLocal(base: Trace, origins: [(y: Int, x: Int)], height: Int, width: Int, values: Tensor) -> Tensor {
        let n = origins.count
        precondition(base.outputs.allSatisfy { $0 != nil } && base.outputs[0]!.shape[0] == 1,
                     "forwardLocal needs a recorded base pass of one image")
        precondition(values.shape == [n, base.outputs[0]!.shape[1], height, width],
                     "forwardLocal values \(values.shape) for \(n) rectangles of \(height)x\(width)")
        var patches = [Patch?](repeating: nil, count: nodes.count)
        let inputRects = origins.map { Rect(y: $0.y, x: $0.x, h: height, w: width) }
        patches[0] = Patch(rects: inputRects, origins: origins, h: height, w: width, values: values,
                           full: false)
        for i in 1..<nodes.count {
            let node = nodes[i]
            let ins = node.inputs.map { patches[$0]! }
            let out = base.outputs[i]!
            if case .globalAvgPool = node.op, !ins[0].full {
                patches[i] = Patch(rects: [], origins: [], h: 0, w: 0, values: pooled(ins[0], base: base.outputs[node.inputs[0]]!),
                                   full: true)
            } else if ins.allSatisfy(\.full) || out.shape.count != 4 {
                // Nothing spatial left to exploit: run the op on the variants' whole inputs.
                let whole = node.inputs.indices.map { k in materialise(ins[k], base: base.outputs[node.inputs[k]]!) }
                let (y, _) = step(i, whole, record: .none, frozen: nil)
                patches[i] = Patch(rects: [], origins: [], h: 0, w: 0, values: y, full: true)
            } else {
                patches[i] = localStep(i, ins, base: base, output: out)
            }
            for j in node.inputs where lastUse[j] == i { patches[j] = nil }
        }
        return patches[nodes.count - 1]!.values
    }

    /// Node `i` on its inputs' patches, computing only its own changed rectangle.
    private func localStep(_ i: Int, _ ins: [Patch], base: Trace, output out: Tensor) -> Patch {
        let node = nodes[i]
        let oh = out.shape[2], ow = out.shape[3]
        let input = base.outputs[node.inputs[0]]!
        switch node.op {
        case .bcosConv(let layer):
            let s = layer.conv
            let unpadded = layer.unpadded()
            return windowed(ins[0], base: input, output: out, kernelH: s.kernelH, kernelW: s.kernelW, stride: s.stride,
                            padH: s.paddingH, padW: s.paddingW) { unpadded.forward($0, record: .none).0 }
        case .avgPool(let pool):
            let unpadded = AvgPool2d(kernel: pool.kernel, stride: pool.stride)
            return windowed(ins[0], base: input, output: out, kernelH: pool.kernel, kernelW: pool.kernel,
                            stride: pool.stride, padH: pool.padding, padW: pool.padding) { unpadded.forward($0) }
        case .add, .concat, .affine, .positionNorm, .logit:
            // Position-wise ops: the output changes where any input does.
            let n = ins[0].full ? ins[0].values.shape[0] : ins[0].rects.count
            let rects = (0..<n).map { b in ins.reduce(Rect.empty) { $0.union($1.full ? Rect(y: 0, x: 0, h: oh, w: ow) : $1.rects[b]) } }
            var patch = Self.placed(rects, height: oh, width: ow)
            guard patch.h > 0 && patch.w > 0 else { return Self.unchanged(patch, channels: out.shape[1]) }
            let gathered = node.inputs.indices.map { k in
                Self.gather(ins[k], base: base.outputs[node.inputs[k]]!, patch: patch)
            }
            patch.values = step(i, gathered, record: .none, frozen: nil).0
            return finish(patch, height: oh, width: ow)
        case .input, .globalAvgPool:
            preconditionFailure("\(node.name) has no local step")
        }
    }

    /// A sliding-window op (conv or pool; `op` is its unpadded form) on the crop its changed outputs read.
    private func windowed(_ source: Patch, base input: Tensor, output out: Tensor, kernelH: Int, kernelW: Int, stride: Int,
                          padH: Int, padW: Int, op: (Tensor) -> Tensor) -> Patch {
        let oh = out.shape[2], ow = out.shape[3]
        let rects = source.rects.map {
            Self.affected($0, kernelH: kernelH, kernelW: kernelW, stride: stride, padH: padH, padW: padW, outH: oh, outW: ow)
        }
        var patch = Self.placed(rects, height: oh, width: ow)
        guard patch.h > 0 && patch.w > 0 else { return Self.unchanged(patch, channels: out.shape[1]) }
        patch.values = op(Self.crop(source, base: input, patch: patch, kernelH: kernelH, kernelW: kernelW, stride: stride,
                                    padH: padH, padW: padW))
        return finish(patch, height: oh, width: ow)
    }

    /// A node none of whose outputs change (a strided 1x1 conv can skip every changed input position).
    static func unchanged(_ patch: Patch, channels: Int) -> Patch {
        var p = patch
        p.h = 0
        p.w = 0
        p.values = Tensor(shape: [patch.rects.count, channels, 0, 0])
        return p
    }

    /// A patch that covers the whole output is marked full (its values are then the whole output).
    private func finish(_ patch: Patch, height: Int, width: Int) -> Patch {
        var p = patch
        p.full = p.h == height && p.w == width
        return p
    }

    /// The output rectangle whose windows (kernel, stride, padding) read any position of `r`, clipped to the output.
    static func affected(_ r: Rect, kernelH: Int, kernelW: Int, stride: Int, padH: Int, padW: Int, outH: Int, outW: Int) -> Rect {
        guard !r.isEmpty else { return .empty }
        func range(_ lo: Int, _ hi: Int, _ k: Int, _ pad: Int, _ out: Int) -> (Int, Int) {
            // Output o reads inputs [o*stride - pad, o*stride - pad + k).
            let first = max(0, Self.ceilDiv(lo + pad - k + 1, stride))
            let last = min(out - 1, Self.floorDiv(hi - 1 + pad, stride))
            return (first, last - first + 1)
        }
        let (y, h) = range(r.y, r.y + r.h, kernelH, padH, outH)
        let (x, w) = range(r.x, r.x + r.w, kernelW, padW, outW)
        return h <= 0 || w <= 0 ? .empty : Rect(y: y, x: x, h: h, w: w)
    }

    static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }

    /// One window size for all variants (the largest rectangle), each window placed over its rectangle and kept
    /// inside the output.
    static func placed(_ rects: [Rect], height: Int, width: Int) -> Patch {
        let h = rects.map(\.h).max() ?? 0, w = rects.map(\.w).max() ?? 0
        let origins = rects.map { r in
            r.isEmpty ? (y: 0, x: 0) : (y: max(0, min(r.y, height - h)), x: max(0, min(r.x, width - w)))
        }
        return Patch(rects: rects, origins: origins, h: h, w: w, values: Tensor(shape: [0]), full: false)
    }

    /// The input values a conv or pool needs for the outputs of `patch`: `[B, C, (h-1)*stride + kH, (w-1)*stride + kW]`
    /// starting at input row `origin.y * stride - padH`; zeros outside the input, the variant's own values inside
    /// its changed rectangle, the base pass's elsewhere.
    static func crop(_ source: Patch, base: Tensor, patch: Patch, kernelH: Int, kernelW: Int, stride: Int,
                     padH: Int, padW: Int) -> Tensor {
        let ch = patch.h == 0 ? 0 : (patch.h - 1) * stride + kernelH
        let cw = patch.w == 0 ? 0 : (patch.w - 1) * stride + kernelW
        let corners = patch.origins.map { (y: $0.y * stride - padH, x: $0.x * stride - padW) }
        return fill(source, base: base, corners: corners, height: ch, width: cw)
    }

    /// The input values at the positions of `patch` itself (position-wise ops): `[B, C, h, w]`.
    static func gather(_ source: Patch, base: Tensor, patch: Patch) -> Tensor {
        fill(source, base: base, corners: patch.origins, height: patch.h, width: patch.w)
    }

    /// `[B, C, height, width]` read at `corners[b]` from variant b of a node: its patch where it has one, else the base
    /// output, zero outside the node's extent.
    static func fill(_ source: Patch, base: Tensor, corners: [(y: Int, x: Int)], height: Int, width: Int) -> Tensor {
        let n = corners.count, c = base.shape[1], bh = base.shape[2], bw = base.shape[3]
        var out = Tensor(shape: [n, c, height, width])
        guard height > 0 && width > 0 else { return out }
        out.data.withUnsafeMutableBufferPointer { ob in
        base.data.withUnsafeBufferPointer { bb in
        source.values.data.withUnsafeBufferPointer { vb in
            for b in 0..<n {
                let (y0, x0) = corners[b]
                // Base values on the part of the crop inside the node's extent.
                let ys = span(max(0, y0), min(bh, y0 + height)), xs = span(max(0, x0), min(bw, x0 + width))
                // The variant's own values where its patch window meets the crop.
                var py = 0..<0, px = 0..<0
                if source.full {
                    py = ys
                    px = xs
                } else if source.h > 0 && source.w > 0 {
                    let o = source.origins[b]
                    py = span(max(ys.lowerBound, o.y), min(ys.upperBound, o.y + source.h))
                    px = span(max(xs.lowerBound, o.x), min(xs.upperBound, o.x + source.w))
                }
                for ci in 0..<c {
                    let dst = ob.baseAddress! + (b * c + ci) * height * width
                    if !xs.isEmpty {
                        for y in ys {
                            let row = dst + (y - y0) * width + (xs.lowerBound - x0)
                            if source.full {
                                row.update(from: vb.baseAddress! + ((b * c + ci) * bh + y) * bw + xs.lowerBound, count: xs.count)
                            } else {
                                row.update(from: bb.baseAddress! + (ci * bh + y) * bw + xs.lowerBound, count: xs.count)
                            }
                        }
                    }
                    guard !source.full, !py.isEmpty, !px.isEmpty else { continue }
                    let o = source.origins[b]
                    for y in py {
                        let src = vb.baseAddress! + ((b * c + ci) * source.h + (y - o.y)) * source.w + (px.lowerBound - o.x)
                        (dst + (y - y0) * width + (px.lowerBound - x0)).update(from: src, count: px.count)
                    }
                }
            }
        }}}
        return out
    }

    /// `lo..<hi`, empty when `hi <= lo`.
    private static func span(_ lo: Int, _ hi: Int) -> Range<Int> { lo..<max(lo, hi) }

    /// The variants' whole output of a node `[B, ...]`.
    private func materialise(_ p: Patch, base: Tensor) -> Tensor {
        if p.full { return p.values }
        let n = p.rects.count
        return Self.fill(p, base: base, corners: Array(repeating: (y: 0, x: 0), count: n),
                         height: base.shape[2], width: base.shape[3])
    }

    /// Global mean pool of the variants: the base pass's sums, minus the base values under each patch window, plus
    /// the variant's values there. `[B, C]`.
    private func pooled(_ p: Patch, base: Tensor) -> Tensor {
        if p.full { return GlobalAvgPool.forward(p.values) }
        let n = p.rects.count, c = base.shape[1], bh = base.shape[2], bw = base.shape[3], count = Double(bh * bw)
        var totals = [Double](repeating: 0, count: c)
        for ci in 0..<c {
            var acc = 0.0
            for k in 0..<(bh * bw) { acc += Double(base.data[ci * bh * bw + k]) }
            totals[ci] = acc
        }
        var out = Tensor(shape: [n, c])
        for b in 0..<n {
            let o = p.origins[b]
            for ci in 0..<c {
                var acc = totals[ci]
                for y in 0..<p.h {
                    for x in 0..<p.w {
                        acc -= Double(base.data[(ci * bh + o.y + y) * bw + o.x + x])
                        acc += Double(p.values.data[((b * c + ci) * p.h + y) * p.w + x])
                    }
                }
                out.data[b * c + ci] = Float(acc / count)
            }
        }
        return out
    }
}
