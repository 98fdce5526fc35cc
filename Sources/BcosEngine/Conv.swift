import Foundation

/// Geometry of a 2-D convolution (square or rectangular kernel, symmetric zero padding).
public struct ConvShape: Sendable, Equatable {
    /// Input channels.
    public var inChannels: Int
    /// Output channels of the plain convolution (before any MaxOut).
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var stride: Int
    /// Zero padding above and below.
    public var paddingH: Int
    /// Zero padding left and right.
    public var paddingW: Int
    public var groups: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        self.init(inChannels: inChannels, outChannels: outChannels, kernelH: kernel, kernelW: kernel, stride: stride,
                  paddingH: padding, paddingW: padding, groups: groups)
    }

    /// A rectangular kernel (Inception's 1x7 and 7x1) with its own padding per axis.
    public init(inChannels: Int, outChannels: Int, kernelH: Int, kernelW: Int, stride: Int = 1, paddingH: Int = 0,
                paddingW: Int = 0, groups: Int = 1) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.stride = stride
        self.paddingH = paddingH
        self.paddingW = paddingW
        self.groups = groups
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "channels \(inChannels)->\(outChannels) not divisible by groups \(groups)")
    }

    /// Rows of one group's im2col matrix: `(C_in / groups) * kh * kw`.
    public var patchSize: Int { inChannels / groups * kernelH * kernelW }

    /// Output spatial size for an `h x w` input (PyTorch's floor formula); 0 where the window does not fit.
    public func outputSize(_ h: Int, _ w: Int) -> (h: Int, w: Int) {
        (slidingWindowCount(h, kernel: kernelH, stride: stride, padding: paddingH),
         slidingWindowCount(w, kernel: kernelW, stride: stride, padding: paddingW))
    }

    /// Weight shape `[C_out, C_in / groups, kh, kw]`.
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernelH, kernelW] }
}

/// Number of window positions along one axis of `size` (0 when the padded input is smaller than the window).
func slidingWindowCount(_ size: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    let span = size + 2 * padding - kernel
    return span < 0 ? 0 : span / stride + 1
}

/// Convolution kernels shared by every conv-like layer: im2col + GEMM forward, GEMM + col2im backward.
enum ConvKernels {
    /// Copies the patches of `channels` planes `[channels, h, w]` into `cols` rows
    /// `[channels * kh * kw, oh * ow]` (row stride `ld`, starting at column `colOffset`). Zero padding.
    static func im2col(_ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, shape s: ConvShape,
                       oh: Int, ow: Int, cols: UnsafeMutablePointer<Float>, ld: Int, colOffset: Int) {
        let kh = s.kernelH, kw = s.kernelW, st = s.stride, padH = s.paddingH, pad = s.paddingW
        for c in 0..<channels {
            let plane = src + c * h * w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = cols + ((c * kh + ky) * kw + kx) * ld + colOffset
                    let (lo, hi) = validColumns(kx: kx, w: w, ow: ow, stride: st, pad: pad)
                    for oy in 0..<oh {
                        let iy = oy * st - padH + ky
                        let dst = row + oy * ow
                        if iy < 0 || iy >= h || lo >= hi {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        if lo > 0 { dst.update(repeating: 0, count: lo) }
                        if hi < ow { (dst + hi).update(repeating: 0, count: ow - hi) }
                        let srow = plane + iy * w - pad + kx
                        if st == 1 {
                            (dst + lo).update(from: srow + lo, count: hi - lo)
                        } else {
                            for ox in lo..<hi { dst[ox] = srow[ox * st] }
                        }
                    }
                }
            }
        }
    }

    /// `im2col` of one image `[channels, h, w]` into `cols` `[channels * kh * kw, oh * ow]`, one channel per job.
    static func im2colParallel(_ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, shape s: ConvShape,
                               oh: Int, ow: Int, cols: UnsafeMutablePointer<Float>) {
        let kk = s.kernelH * s.kernelW, p = oh * ow
        let sp = SharedReadPointer(src), cp = SharedPointer(cols)
        parallelFor(channels, grain: p * kk) { c in
            im2col(sp.base + c * h * w, channels: 1, h: h, w: w, shape: s, oh: oh, ow: ow,
                   cols: cp.base + c * kk * p, ld: p, colOffset: 0)
        }
    }

    /// Adds the patch gradients `cols` (layout as `im2col`) back onto the planes `dst` `[channels, h, w]`.
    static func col2im(_ cols: UnsafePointer<Float>, ld: Int, colOffset: Int, channels: Int, h: Int, w: Int,
                       shape s: ConvShape, oh: Int, ow: Int, dst: UnsafeMutablePointer<Float>) {
        let kh = s.kernelH, kw = s.kernelW, st = s.stride, padH = s.paddingH, pad = s.paddingW
        for c in 0..<channels {
            let plane = dst + c * h * w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = cols + ((c * kh + ky) * kw + kx) * ld + colOffset
                    let (lo, hi) = validColumns(kx: kx, w: w, ow: ow, stride: st, pad: pad)
                    if lo >= hi { continue }
                    for oy in 0..<oh {
                        let iy = oy * st - padH + ky
                        if iy < 0 || iy >= h { continue }
                        let srow = row + oy * ow
                        let drow = plane + iy * w - pad + kx
                        if st == 1 {
                            for ox in lo..<hi { drow[ox] += srow[ox] }
                        } else {
                            for ox in lo..<hi { drow[ox * st] += srow[ox] }
                        }
                    }
                }
            }
        }
    }

    /// The output columns `lo..<hi` whose input column `ox * stride - pad + kx` lies inside a row of `w` pixels
    /// (empty when `lo >= hi`): the part of a kernel column that does not fall into the zero padding.
    @inline(__always)
    static func validColumns(kx: Int, w: Int, ow: Int, stride st: Int, pad: Int) -> (lo: Int, hi: Int) {
        (max(0, (pad - kx + st - 1) / st), min(ow, (w + pad - kx + st - 1) / st))
    }

    /// One channel convolved with its own kernel (a depthwise conv's group), directly: `out[oh, ow]`.
    static func depthwise(_ src: UnsafePointer<Float>, h: Int, w: Int, weight: UnsafePointer<Float>, shape s: ConvShape,
                          oh: Int, ow: Int, out: UnsafeMutablePointer<Float>) {
        let kh = s.kernelH, kw = s.kernelW, st = s.stride, pad = s.paddingW
        for oy in 0..<oh {
            let y0 = oy * st - s.paddingH, dst = out + oy * ow
            dst.update(repeating: 0, count: ow)
            for ky in max(0, -y0)..<min(kh, h - y0) {
                let row = src + (y0 + ky) * w
                for kx in 0..<kw {
                    let (lo, hi) = validColumns(kx: kx, w: w, ow: ow, stride: st, pad: pad)
                    if lo >= hi { continue }
                    let wv = weight[ky * kw + kx], base = row - pad + kx
                    if st == 1 {
                        for ox in lo..<hi { dst[ox] += wv * base[ox] }
                    } else {
                        for ox in lo..<hi { dst[ox] += wv * base[ox * st] }
                    }
                }
            }
        }
    }

    /// The transpose of `depthwise`: adds each output gradient times the kernel onto the input plane `dst`.
    static func depthwiseTransposed(_ gy: UnsafePointer<Float>, oh: Int, ow: Int, weight: UnsafePointer<Float>,
                                    shape s: ConvShape, h: Int, w: Int, dst: UnsafeMutablePointer<Float>) {
        let kh = s.kernelH, kw = s.kernelW, st = s.stride, pad = s.paddingW
        for oy in 0..<oh {
            let y0 = oy * st - s.paddingH, grow = gy + oy * ow
            for ky in max(0, -y0)..<min(kh, h - y0) {
                let row = dst + (y0 + ky) * w
                for kx in 0..<kw {
                    let (lo, hi) = validColumns(kx: kx, w: w, ow: ow, stride: st, pad: pad)
                    if lo >= hi { continue }
                    let wv = weight[ky * kw + kx], base = row - pad + kx
                    if st == 1 {
                        for ox in lo..<hi { base[ox] += wv * grow[ox] }
                    } else {
                        for ox in lo..<hi { base[ox * st] += wv * grow[ox] }
                    }
                }
            }
        }
    }

    /// How many images to pack side by side into one GEMM so that the matrix is wide enough to run fast.
    static func chunkSize(batch: Int, positions: Int, patch: Int) -> Int {
        let targetColumns = 2048
        let maxBytes = 16 << 20
        let byWidth = max(1, (targetColumns + positions - 1) / positions)
        let byMemory = max(1, maxBytes / max(1, patch * positions * 4))
        return max(1, min(batch, byWidth, byMemory))
    }

    static func isPointwise(_ s: ConvShape) -> Bool {
        s.kernelH == 1 && s.kernelW == 1 && s.stride == 1 && s.paddingH == 0 && s.paddingW == 0
    }

    /// Receives raw convolution output of image `n`: rows `rows` of its `[C_out, oh*ow]` block, which starts at
    /// `raw` with row stride `ld`. Called concurrently for disjoint (image, rows) pairs.
    typealias RawConsumer = (_ n: Int, _ rows: Range<Int>, _ raw: UnsafePointer<Float>, _ ld: Int) -> Void

    /// Plain convolution without bias: `y[N, C_out, oh, ow] = conv(x[N, C_in, h, w], weight[C_out, C_in/g, kh, kw])`.
    static func forward(_ x: Tensor, weight: [Float], shape s: ConvShape) -> Tensor {
        let (oh, ow) = s.outputSize(x.shape[2], x.shape[3])
        let p = oh * ow
        var y = Tensor(shape: [x.shape[0], s.outChannels, oh, ow])
        y.data.withUnsafeMutableBufferPointer { yb in
            let yp = SharedPointer(yb.baseAddress!)
            forward(x, weight: weight, shape: s) { n, rows, raw, ld in
                for r in rows { (yp.base + (n * s.outChannels + r) * p).update(from: raw + r * ld, count: p) }
            }
        }
        return y
    }

    /// Convolution whose output is handed, while still in cache, to `consume` instead of being stored
    /// (B-cos layers apply MaxOut and the dynamic scale there).
    ///
    /// Batches of at least one image per core run one image chunk per core (im2col + single-threaded GEMM, no
    /// synchronisation); a single image is split inside: im2col by channel, then the GEMM by rows or columns.
    /// - Parameter rowAlign: `consume` always gets row ranges that are multiples of this (the MaxOut group size).
    static func forward(_ x: Tensor, weight: [Float], shape s: ConvShape, rowAlign: Int = 1, consume: RawConsumer) {
        precondition(x.shape.count == 4 && x.shape[1] == s.inChannels,
                     "conv expects [N, \(s.inChannels), H, W], got \(x.shape)")
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let (oh, ow) = s.outputSize(h, w)
        precondition(oh > 0 && ow > 0, "input \(h)x\(w) too small for kernel \(s.kernelH)x\(s.kernelW)")
        let p = oh * ow, co = s.outChannels
        let g = s.groups, cg = s.inChannels / g, og = co / g, k = s.patchSize
        let direct = isPointwise(s)
        let workers = Engine.prepared
        x.data.withUnsafeBufferPointer { xb in
        weight.withUnsafeBufferPointer { wb in
            let xp = SharedReadPointer(xb.baseAddress!), wp = SharedReadPointer(wb.baseAddress!)
            if n >= workers && n > 1 {
                let chunk = chunkSize(batch: (n + workers - 1) / workers, positions: p, patch: k)
                let tasks = (n + chunk - 1) / chunk
                parallelFor(tasks, grain: Int.max / tasks) { t in
                    let n0 = t * chunk, nc = min(chunk, n - n0), ld = nc * p
                    Scratch.with(direct ? 0 : k * ld) { cols in
                    Scratch.with(co * ld) { raw in
                        for gi in 0..<g {
                            let wg = wp.base + gi * og * k
                            let dst = raw + gi * og * ld
                            if direct {
                                for i in 0..<nc {
                                    GEMM.sgemm(m: og, n: p, k: k, a: wg, lda: k,
                                               b: xp.base + ((n0 + i) * s.inChannels + gi * cg) * p, ldb: p,
                                               c: dst + i * p, ldc: ld)
                                }
                                continue
                            }
                            for i in 0..<nc {
                                im2col(xp.base + ((n0 + i) * s.inChannels + gi * cg) * h * w, channels: cg, h: h, w: w,
                                       shape: s, oh: oh, ow: ow, cols: cols, ld: ld, colOffset: i * p)
                            }
                            GEMM.sgemm(m: og, n: ld, k: k, a: wg, lda: k, b: cols, ldb: ld, c: dst, ldc: ld)
                        }
                        for i in 0..<nc { consume(n0 + i, 0..<co, raw + i * p, ld) }
                    }}
                }
                return
            }
            Scratch.with(co * p) { raw in
                for img in 0..<n {
                    // Many small groups (depthwise convs): one group per job, each single-threaded.
                    if g >= workers && g > 1 {
                        let rawp = SharedPointer(raw)
                        parallelFor(g, grain: max(1, og * k * p)) { gi in
                            let src = xp.base + (img * s.inChannels + gi * cg) * h * w
                            let wg = wp.base + gi * og * k, out = rawp.base + gi * og * p
                            if cg == 1 && og == 1 {
                                depthwise(src, h: h, w: w, weight: wg, shape: s, oh: oh, ow: ow, out: out)
                                return
                            }
                            if direct {
                                GEMM.sgemm(m: og, n: p, k: k, a: wg, lda: k, b: src, ldb: p, c: out, ldc: p)
                                return
                            }
                            Scratch.with(k * p) { cols in
                                im2col(src, channels: cg, h: h, w: w, shape: s, oh: oh, ow: ow, cols: cols, ld: p, colOffset: 0)
                                GEMM.sgemm(m: og, n: p, k: k, a: wg, lda: k, b: cols, ldb: p, c: out, ldc: p)
                            }
                        }
                    }
                    for gi in 0..<g where !(g >= workers && g > 1) {
                        let src = xp.base + (img * s.inChannels + gi * cg) * h * w
                        let wg = wp.base + gi * og * k
                        if direct {
                            GEMM.parallel(m: og, n: p, k: k, a: wg, lda: k, b: src, ldb: p, c: raw + gi * og * p, ldc: p)
                            continue
                        }
                        Scratch.with(k * p) { cols in
                            im2colParallel(src, channels: cg, h: h, w: w, shape: s, oh: oh, ow: ow, cols: cols)
                            GEMM.parallel(m: og, n: p, k: k, a: wg, lda: k, b: cols, ldb: p, c: raw + gi * og * p, ldc: p)
                        }
                    }
                    let blocks = min(workers, co / rowAlign)
                    let per = (co / rowAlign + blocks - 1) / blocks * rowAlign
                    let rp = SharedReadPointer(UnsafePointer(raw))
                    parallelFor(blocks, grain: per * p) { b in
                        let lo = b * per, hi = min(co, lo + per)
                        if lo < hi { consume(img, lo..<hi, rp.base, p) }
                    }
                }
            }
        }}
    }

    /// Gradient of the convolution with respect to its input:
    /// `gx[N, C_in, h, w]` from `gy[N, C_out, oh, ow]` (weight fixed). Parallel like `forward`.
    static func backwardInput(_ gy: Tensor, weight: [Float], shape s: ConvShape, inputH h: Int, inputW w: Int) -> Tensor {
        let n = gy.shape[0], oh = gy.shape[2], ow = gy.shape[3], p = oh * ow, kk = s.kernelH * s.kernelW
        precondition(gy.shape[1] == s.outChannels, "conv backward expects \(s.outChannels) channels, got \(gy.shape)")
        let g = s.groups, cg = s.inChannels / g, og = s.outChannels / g, k = s.patchSize
        let direct = isPointwise(s)
        var gx = Tensor(shape: [n, s.inChannels, h, w])
        let workers = Engine.prepared
        gy.data.withUnsafeBufferPointer { gyb in
        weight.withUnsafeBufferPointer { wb in
        gx.data.withUnsafeMutableBufferPointer { gxb in
            let gyp = SharedReadPointer(gyb.baseAddress!), wp = SharedReadPointer(wb.baseAddress!)
            let gxp = SharedPointer(gxb.baseAddress!)
            if n >= workers && n > 1 {
                let chunk = chunkSize(batch: (n + workers - 1) / workers, positions: p, patch: k)
                let tasks = (n + chunk - 1) / chunk
                parallelFor(tasks, grain: Int.max / tasks) { t in
                    let n0 = t * chunk, nc = min(chunk, n - n0), ld = nc * p
                    Scratch.with(direct ? 0 : k * ld) { cols in
                    Scratch.with(nc > 1 && !direct ? og * ld : 0) { tmp in
                        for gi in 0..<g {
                            let wg = wp.base + gi * og * k
                            if direct {
                                for i in 0..<nc {
                                    GEMM.sgemm(transA: true, m: k, n: p, k: og, a: wg, lda: k,
                                               b: gyp.base + ((n0 + i) * s.outChannels + gi * og) * p, ldb: p,
                                               c: gxp.base + ((n0 + i) * s.inChannels + gi * cg) * p, ldc: p)
                                }
                                continue
                            }
                            let a: UnsafePointer<Float>
                            if nc == 1 {
                                a = gyp.base + (n0 * s.outChannels + gi * og) * p
                            } else {
                                for i in 0..<nc {
                                    for o in 0..<og {
                                        (tmp + o * ld + i * p).update(
                                            from: gyp.base + ((n0 + i) * s.outChannels + gi * og + o) * p, count: p)
                                    }
                                }
                                a = UnsafePointer(tmp)
                            }
                            GEMM.sgemm(transA: true, m: k, n: ld, k: og, a: wg, lda: k, b: a, ldb: ld, c: cols, ldc: ld)
                            for i in 0..<nc {
                                col2im(cols, ld: ld, colOffset: i * p, channels: cg, h: h, w: w, shape: s, oh: oh, ow: ow,
                                       dst: gxp.base + ((n0 + i) * s.inChannels + gi * cg) * h * w)
                            }
                        }
                    }}
                }
                return
            }
            for img in 0..<n {
                // Many small groups (depthwise convs): one group per job, each single-threaded.
                if g >= workers && g > 1 {
                    parallelFor(g, grain: max(1, og * k * p)) { gi in
                        let src = gyp.base + (img * s.outChannels + gi * og) * p
                        let dst = gxp.base + (img * s.inChannels + gi * cg) * h * w
                        let wg = wp.base + gi * og * k
                        if cg == 1 && og == 1 {
                            depthwiseTransposed(src, oh: oh, ow: ow, weight: wg, shape: s, h: h, w: w, dst: dst)
                            return
                        }
                        if direct {
                            GEMM.sgemm(transA: true, m: k, n: p, k: og, a: wg, lda: k, b: src, ldb: p, c: dst, ldc: p)
                            return
                        }
                        Scratch.with(k * p) { cols in
                            GEMM.sgemm(transA: true, m: k, n: p, k: og, a: wg, lda: k, b: src, ldb: p, c: cols, ldc: p)
                            col2im(cols, ld: p, colOffset: 0, channels: cg, h: h, w: w, shape: s, oh: oh, ow: ow, dst: dst)
                        }
                    }
                    continue
                }
                for gi in 0..<g {
                    let src = gyp.base + (img * s.outChannels + gi * og) * p
                    let dst = gxp.base + (img * s.inChannels + gi * cg) * h * w
                    let wg = wp.base + gi * og * k
                    if direct {
                        GEMM.parallel(transA: true, m: k, n: p, k: og, a: wg, lda: k, b: src, ldb: p, c: dst, ldc: p)
                        continue
                    }
                    Scratch.with(k * p) { cols in
                        // cols[k, p] = W_g^T [k, og] * gy_g [og, p], then each channel's rows onto its own plane.
                        GEMM.parallel(transA: true, m: k, n: p, k: og, a: wg, lda: k, b: src, ldb: p, c: cols, ldc: p)
                        let cp = SharedReadPointer(UnsafePointer(cols)), dp = SharedPointer(dst)
                        parallelFor(cg, grain: p * kk) { c in
                            col2im(cp.base + c * kk * p, ld: p, colOffset: 0, channels: 1, h: h, w: w, shape: s,
                                   oh: oh, ow: ow, dst: dp.base + c * h * w)
                        }
                    }
                }
            }
        }}}
        return gx
    }

    /// Gradients of the convolution with respect to its input and its weights, from `gy[N, C_out, oh, ow]`.
    ///
    /// - Returns: `gx[N, C_in, h, w]` (an empty tensor unless `needInput`) and `gw` with the weight's layout.
    static func backward(_ gy: Tensor, input x: Tensor, weight: [Float], shape s: ConvShape,
                         needInput: Bool) -> (input: Tensor, weight: [Float]) {
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let oh = gy.shape[2], ow = gy.shape[3], p = oh * ow, kk = s.kernelH * s.kernelW
        precondition(gy.shape == [n, s.outChannels, oh, ow], "conv backward: gy \(gy.shape) for input \(x.shape)")
        let g = s.groups, cg = s.inChannels / g, og = s.outChannels / g, k = s.patchSize
        let direct = isPointwise(s)
        var gx = Tensor(shape: needInput ? [n, s.inChannels, h, w] : [0])
        let workers = Engine.prepared
        let parts = n >= workers && n > 1 ? workers : 1
        var partials = [[Float]](repeating: [Float](repeating: 0, count: weight.count), count: parts)
        x.data.withUnsafeBufferPointer { xb in
        gy.data.withUnsafeBufferPointer { gyb in
        weight.withUnsafeBufferPointer { wb in
        gx.data.withUnsafeMutableBufferPointer { gxb in
            let xp = SharedReadPointer(xb.baseAddress!), gyp = SharedReadPointer(gyb.baseAddress!)
            let wp = SharedReadPointer(wb.baseAddress!)
            let gxp = needInput ? SharedPointer(gxb.baseAddress!) : nil
            if parts > 1 {
                let chunk = chunkSize(batch: (n + workers - 1) / workers, positions: p, patch: k)
                let tasks = (n + chunk - 1) / chunk
                let partialPointers = partials.indices.map { i in
                    partials[i].withUnsafeMutableBufferPointer { SharedPointer($0.baseAddress!) }
                }
                parallelFor(parts, grain: Int.max / parts) { worker in
                    let gw = partialPointers[worker].base
                    for t in stride(from: worker, to: tasks, by: parts) {
                        let n0 = t * chunk, nc = min(chunk, n - n0), ld = nc * p
                        Scratch.with(direct ? 0 : k * ld) { cols in
                        Scratch.with(direct ? 0 : og * ld) { tmp in
                            for gi in 0..<g {
                                let wg = wp.base + gi * og * k, gwg = gw + gi * og * k
                                if direct {
                                    for i in 0..<nc {
                                        let gyi = gyp.base + ((n0 + i) * s.outChannels + gi * og) * p
                                        let xi = xp.base + ((n0 + i) * s.inChannels + gi * cg) * p
                                        GEMM.sgemm(transB: true, m: og, n: k, k: p, a: gyi, lda: p, b: xi, ldb: p,
                                                   beta: 1, c: gwg, ldc: k)
                                        if let gxp {
                                            GEMM.sgemm(transA: true, m: k, n: p, k: og, a: wg, lda: k, b: gyi, ldb: p,
                                                       c: gxp.base + ((n0 + i) * s.inChannels + gi * cg) * p, ldc: p)
                                        }
                                    }
                                    continue
                                }
                                for i in 0..<nc {
                                    im2col(xp.base + ((n0 + i) * s.inChannels + gi * cg) * h * w, channels: cg, h: h, w: w,
                                           shape: s, oh: oh, ow: ow, cols: cols, ld: ld, colOffset: i * p)
                                    for o in 0..<og {
                                        (tmp + o * ld + i * p).update(
                                            from: gyp.base + ((n0 + i) * s.outChannels + gi * og + o) * p, count: p)
                                    }
                                }
                                // gw_g [og, k] += gy_g [og, ld] · cols^T [ld, k]
                                GEMM.sgemm(transB: true, m: og, n: k, k: ld, a: tmp, lda: ld, b: cols, ldb: ld,
                                           beta: 1, c: gwg, ldc: k)
                                guard let gxp else { continue }
                                // cols [k, ld] = W_g^T [k, og] · gy_g [og, ld], then back onto the images.
                                GEMM.sgemm(transA: true, m: k, n: ld, k: og, a: wg, lda: k, b: tmp, ldb: ld, c: cols, ldc: ld)
                                for i in 0..<nc {
                                    col2im(cols, ld: ld, colOffset: i * p, channels: cg, h: h, w: w, shape: s, oh: oh, ow: ow,
                                           dst: gxp.base + ((n0 + i) * s.inChannels + gi * cg) * h * w)
                                }
                            }
                        }}
                    }
                }
                return
            }
            partials[0].withUnsafeMutableBufferPointer { gwb in
                let gw = gwb.baseAddress!
                for img in 0..<n {
                    for gi in 0..<g {
                        let xi = xp.base + (img * s.inChannels + gi * cg) * h * w
                        let gyi = gyp.base + (img * s.outChannels + gi * og) * p
                        let wg = wp.base + gi * og * k, gwg = gw + gi * og * k
                        if direct {
                            GEMM.parallel(transB: true, m: og, n: k, k: p, a: gyi, lda: p, b: xi, ldb: p, beta: 1, c: gwg, ldc: k)
                            if let gxp {
                                GEMM.parallel(transA: true, m: k, n: p, k: og, a: wg, lda: k, b: gyi, ldb: p,
                                              c: gxp.base + (img * s.inChannels + gi * cg) * p, ldc: p)
                            }
                            continue
                        }
                        Scratch.with(k * p) { cols in
                            im2colParallel(xi, channels: cg, h: h, w: w, shape: s, oh: oh, ow: ow, cols: cols)
                            GEMM.parallel(transB: true, m: og, n: k, k: p, a: gyi, lda: p, b: cols, ldb: p, beta: 1, c: gwg, ldc: k)
                            guard let gxp else { return }
                            GEMM.parallel(transA: true, m: k, n: p, k: og, a: wg, lda: k, b: gyi, ldb: p, c: cols, ldc: p)
                            let dst = gxp.base + (img * s.inChannels + gi * cg) * h * w
                            let dp = SharedPointer(dst), rp = SharedReadPointer(UnsafePointer(cols))
                            parallelFor(cg, grain: p * kk) { c in
                                col2im(rp.base + c * kk * p, ld: p, colOffset: 0, channels: 1, h: h, w: w, shape: s,
                                       oh: oh, ow: ow, dst: dp.base + c * h * w)
                            }
                        }
                    }
                }
            }
        }}}}
        var total = partials[0]
        for part in partials.dropFirst() { for i in total.indices { total[i] += part[i] } }
        return (gx, total)
    }

    /// Adds the gradient that flows through the patch norms to `gx`: for `S = box-sum of Σ_c x²` (per group),
    /// `dL/dx[c] += 2 x[c] · boxsumᵀ(dL/dS)`.
    ///
    /// - Parameter gS: `dL/dS`, `[N, groups, oh, ow]`.
    static func addPatchNormGradient(_ gS: Tensor, input x: Tensor, shape s: ConvShape, into gx: inout Tensor) {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let oh = gS.shape[2], ow = gS.shape[3], g = s.groups, cg = c / g
        x.data.withUnsafeBufferPointer { xb in
        gS.data.withUnsafeBufferPointer { sb in
        gx.data.withUnsafeMutableBufferPointer { gb in
            let xp = SharedReadPointer(xb.baseAddress!), sp = SharedReadPointer(sb.baseAddress!)
            let gp = SharedPointer(gb.baseAddress!)
            parallelFor(n * g, grain: cg * h * w) { job in
                var spread = [Float](repeating: 0, count: h * w)
                let src = sp.base + job * oh * ow
                for oy in 0..<oh {
                    let y0 = oy * s.stride - s.paddingH
                    for ox in 0..<ow {
                        let v = src[oy * ow + ox]
                        if v == 0 { continue }
                        let x0 = ox * s.stride - s.paddingW
                        for yy in max(0, y0)..<min(h, y0 + s.kernelH) {
                            for xx in max(0, x0)..<min(w, x0 + s.kernelW) { spread[yy * w + xx] += v }
                        }
                    }
                }
                for ci in 0..<cg {
                    let off = (job * cg + ci) * h * w
                    for i in 0..<(h * w) { gp.base[off + i] += 2 * xp.base[off + i] * spread[i] }
                }
            }
        }}}
    }

    /// Sum of squares over each group's input channels, box-summed over every conv window:
    /// `[N, groups, oh, ow]`, i.e. `||patch||^2` of every patch the convolution sees (zero padding counts).
    static func patchSquaredNorms(_ x: Tensor, shape s: ConvShape) -> Tensor {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let (oh, ow) = s.outputSize(h, w)
        let g = s.groups, cg = c / g
        var out = Tensor(shape: [n, g, oh, ow])
        x.data.withUnsafeBufferPointer { xb in
        out.data.withUnsafeMutableBufferPointer { ob in
            let xp = SharedReadPointer(xb.baseAddress!), op = SharedPointer(ob.baseAddress!)
            parallelFor(n * g, grain: c / g * h * w) { job in
                var sq = [Float](repeating: 0, count: h * w)
                let base = xp.base + job * cg * h * w
                for ci in 0..<cg {
                    let plane = base + ci * h * w
                    for i in 0..<(h * w) { sq[i] += plane[i] * plane[i] }
                }
                let dst = op.base + job * oh * ow
                if cg == 1 && g > 1 {
                    // Depthwise convs (large kernels, one channel per group): a separable box sum, each row's window
                    // sums at the output columns, then those summed over the window's rows.
                    var rows = [Float](repeating: 0, count: h * ow)
                    for y in 0..<h {
                        for ox in 0..<ow {
                            let x0 = ox * s.stride - s.paddingW, xa = max(0, x0), xb = max(xa, min(w, x0 + s.kernelW))
                            var acc: Float = 0
                            for xx in xa..<xb { acc += sq[y * w + xx] }
                            rows[y * ow + ox] = acc
                        }
                    }
                    for oy in 0..<oh {
                        let y0 = oy * s.stride - s.paddingH, ya = max(0, y0), yb = max(ya, min(h, y0 + s.kernelH))
                        let out = dst + oy * ow
                        out.update(repeating: 0, count: ow)
                        for yy in ya..<yb {
                            for ox in 0..<ow { out[ox] += rows[yy * ow + ox] }
                        }
                    }
                    return
                }
                for oy in 0..<oh {
                    let y0 = oy * s.stride - s.paddingH
                    let ya = max(0, y0), yb = min(h, y0 + s.kernelH)
                    for ox in 0..<ow {
                        let x0 = ox * s.stride - s.paddingW
                        let xa = max(0, x0), xb2 = min(w, x0 + s.kernelW)
                        var acc: Float = 0
                        if ya < yb && xa < xb2 {
                            for yy in ya..<yb {
                                for xx in xa..<xb2 { acc += sq[yy * w + xx] }
                            }
                        }
                        dst[oy * ow + ox] = acc
                    }
                }
            }
        }}
        return out
    }
}
