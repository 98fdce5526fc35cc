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
    public var padding: Int
    public var groups: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelH = kernel
        self.kernelW = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "channels \(inChannels)->\(outChannels) not divisible by groups \(groups)")
    }

    /// Rows of one group's im2col matrix: `(C_in / groups) * kh * kw`.
    public var patchSize: Int { inChannels / groups * kernelH * kernelW }

    /// Output spatial size for an `h x w` input (PyTorch's floor formula).
    public func outputSize(_ h: Int, _ w: Int) -> (h: Int, w: Int) {
        ((h + 2 * padding - kernelH) / stride + 1, (w + 2 * padding - kernelW) / stride + 1)
    }

    /// Weight shape `[C_out, C_in / groups, kh, kw]`.
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernelH, kernelW] }
}

/// Convolution kernels shared by every conv-like layer: im2col + GEMM forward, GEMM + col2im backward.
enum ConvKernels {
    /// Copies the patches of `channels` planes `[channels, h, w]` into `cols` rows
    /// `[channels * kh * kw, oh * ow]` (row stride `ld`, starting at column `colOffset`). Zero padding.
    static func im2col(_ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, shape s: ConvShape,
                       oh: Int, ow: Int, cols: UnsafeMutablePointer<Float>, ld: Int, colOffset: Int) {
        let kh = s.kernelH, kw = s.kernelW, st = s.stride, pad = s.padding
        for c in 0..<channels {
            let plane = src + c * h * w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = cols + ((c * kh + ky) * kw + kx) * ld + colOffset
                    // Output columns whose input column lies inside the image.
                    let lo = max(0, (pad - kx + st - 1) / st)
                    let hi = min(ow, (w + pad - kx + st - 1) / st)
                    for oy in 0..<oh {
                        let iy = oy * st - pad + ky
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

    /// Adds the patch gradients `cols` (layout as `im2col`) back onto the planes `dst` `[channels, h, w]`.
    static func col2im(_ cols: UnsafePointer<Float>, ld: Int, colOffset: Int, channels: Int, h: Int, w: Int,
                       shape s: ConvShape, oh: Int, ow: Int, dst: UnsafeMutablePointer<Float>) {
        let kh = s.kernelH, kw = s.kernelW, st = s.stride, pad = s.padding
        for c in 0..<channels {
            let plane = dst + c * h * w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = cols + ((c * kh + ky) * kw + kx) * ld + colOffset
                    let lo = max(0, (pad - kx + st - 1) / st)
                    let hi = min(ow, (w + pad - kx + st - 1) / st)
                    if lo >= hi { continue }
                    for oy in 0..<oh {
                        let iy = oy * st - pad + ky
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

    /// How many images to pack side by side into one GEMM so that the matrix is wide enough to run fast.
    static func chunkSize(batch: Int, positions: Int, patch: Int) -> Int {
        let targetColumns = 4096
        let maxBytes = 64 << 20
        let byWidth = max(1, (targetColumns + positions - 1) / positions)
        let byMemory = max(1, maxBytes / max(1, patch * positions * 4))
        return max(1, min(batch, byWidth, byMemory))
    }

    static func isPointwise(_ s: ConvShape) -> Bool {
        s.kernelH == 1 && s.kernelW == 1 && s.stride == 1 && s.padding == 0
    }

    /// Plain convolution without bias: `y[N, C_out, oh, ow] = conv(x[N, C_in, h, w], weight[C_out, C_in/g, kh, kw])`.
    static func forward(_ x: Tensor, weight: [Float], shape s: ConvShape) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == s.inChannels,
                     "conv expects [N, \(s.inChannels), H, W], got \(x.shape)")
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let (oh, ow) = s.outputSize(h, w)
        precondition(oh > 0 && ow > 0, "input \(h)x\(w) too small for kernel \(s.kernelH) padding \(s.padding)")
        let p = oh * ow
        let g = s.groups, cg = s.inChannels / g, og = s.outChannels / g, k = s.patchSize
        var y = Tensor(shape: [n, s.outChannels, oh, ow])
        let chunk = chunkSize(batch: n, positions: p, patch: k)
        let direct = isPointwise(s) && g == 1
        var cols = [Float](repeating: 0, count: direct ? 0 : k * chunk * p)
        var tmp = [Float](repeating: 0, count: chunk > 1 && !direct ? og * chunk * p : 0)
        x.data.withUnsafeBufferPointer { xb in
        weight.withUnsafeBufferPointer { wb in
        y.data.withUnsafeMutableBufferPointer { yb in
        cols.withUnsafeMutableBufferPointer { cb in
        tmp.withUnsafeMutableBufferPointer { tb in
            let xp = SharedReadPointer(xb.baseAddress!), yp = yb.baseAddress!
            if direct {
                // Pointwise convolution needs no patches: one GEMM per image, straight into y.
                for i in 0..<n {
                    GEMM.sgemm(m: s.outChannels, n: p, k: k, a: wb.baseAddress!, lda: k,
                               b: xp.base + i * s.inChannels * p, ldb: p,
                               c: yp + i * s.outChannels * p, ldc: p)
                }
                return
            }
            var n0 = 0
            while n0 < n {
                let nc = min(chunk, n - n0)
                let ld = nc * p
                for gi in 0..<g {
                    let wg = wb.baseAddress! + gi * og * k
                    let cp = SharedPointer(cb.baseAddress!)
                    parallelFor(nc * cg, grain: p * s.kernelH * s.kernelW) { job in
                        let i = job / cg, c = job % cg
                        let src = xp.base + ((n0 + i) * s.inChannels + gi * cg + c) * h * w
                        im2col(src, channels: 1, h: h, w: w, shape: s, oh: oh, ow: ow,
                               cols: cp.base + c * s.kernelH * s.kernelW * ld, ld: ld, colOffset: i * p)
                    }
                    if nc == 1 {
                        GEMM.sgemm(m: og, n: p, k: k, a: wg, lda: k, b: cb.baseAddress!, ldb: ld,
                                   c: yp + (n0 * s.outChannels + gi * og) * p, ldc: p)
                    } else {
                        // Several images side by side in one wide GEMM, then scattered back to [N, C, P].
                        let tp = tb.baseAddress!
                        GEMM.sgemm(m: og, n: ld, k: k, a: wg, lda: k, b: cb.baseAddress!, ldb: ld, c: tp, ldc: ld)
                        let tr = SharedReadPointer(UnsafePointer(tp)), yo = SharedPointer(yp)
                        parallelFor(nc, grain: og * p) { i in
                            for o in 0..<og {
                                (yo.base + ((n0 + i) * s.outChannels + gi * og + o) * p)
                                    .update(from: tr.base + o * ld + i * p, count: p)
                            }
                        }
                    }
                }
                n0 += nc
            }
        }}}}}
        return y
    }

    /// Gradient of the convolution with respect to its input:
    /// `gx[N, C_in, h, w]` from `gy[N, C_out, oh, ow]` (weight fixed).
    static func backwardInput(_ gy: Tensor, weight: [Float], shape s: ConvShape, inputH h: Int, inputW w: Int) -> Tensor {
        let n = gy.shape[0], oh = gy.shape[2], ow = gy.shape[3], p = oh * ow
        precondition(gy.shape[1] == s.outChannels, "conv backward expects \(s.outChannels) channels, got \(gy.shape)")
        let g = s.groups, cg = s.inChannels / g, og = s.outChannels / g, k = s.patchSize
        var gx = Tensor(shape: [n, s.inChannels, h, w])
        let chunk = chunkSize(batch: n, positions: p, patch: k)
        let direct = isPointwise(s) && g == 1
        var cols = [Float](repeating: 0, count: direct ? 0 : k * chunk * p)
        var tmp = [Float](repeating: 0, count: chunk > 1 && !direct ? og * chunk * p : 0)
        gy.data.withUnsafeBufferPointer { gyb in
        weight.withUnsafeBufferPointer { wb in
        gx.data.withUnsafeMutableBufferPointer { gxb in
        cols.withUnsafeMutableBufferPointer { cb in
        tmp.withUnsafeMutableBufferPointer { tb in
            let gyp = SharedReadPointer(gyb.baseAddress!), gxp = SharedPointer(gxb.baseAddress!)
            if direct {
                for i in 0..<n {
                    GEMM.sgemm(transA: true, m: s.inChannels, n: p, k: og, a: wb.baseAddress!, lda: k,
                               b: gyp.base + i * s.outChannels * p, ldb: p,
                               c: gxp.base + i * s.inChannels * p, ldc: p)
                }
                return
            }
            var n0 = 0
            while n0 < n {
                let nc = min(chunk, n - n0)
                let ld = nc * p
                for gi in 0..<g {
                    let wg = wb.baseAddress! + gi * og * k
                    let aMat: UnsafePointer<Float>
                    let lda: Int
                    if nc == 1 {
                        aMat = gyp.base + (n0 * s.outChannels + gi * og) * p
                        lda = p
                    } else {
                        let tp = SharedPointer(tb.baseAddress!)
                        parallelFor(nc, grain: og * p) { i in
                            for o in 0..<og {
                                (tp.base + o * ld + i * p)
                                    .update(from: gyp.base + ((n0 + i) * s.outChannels + gi * og + o) * p, count: p)
                            }
                        }
                        aMat = UnsafePointer(tb.baseAddress!)
                        lda = ld
                    }
                    // cols[k, ld] = W_g^T [k, og] * gy_g [og, ld]
                    GEMM.sgemm(transA: true, m: k, n: ld, k: og, a: wg, lda: k, b: aMat, ldb: lda,
                               c: cb.baseAddress!, ldc: ld)
                    let cp = SharedReadPointer(UnsafePointer(cb.baseAddress!))
                    parallelFor(nc * cg, grain: p * s.kernelH * s.kernelW) { job in
                        let i = job / cg, c = job % cg
                        col2im(cp.base + c * s.kernelH * s.kernelW * ld, ld: ld, colOffset: i * p,
                               channels: 1, h: h, w: w, shape: s, oh: oh, ow: ow,
                               dst: gxp.base + ((n0 + i) * s.inChannels + gi * cg + c) * h * w)
                    }
                }
                n0 += nc
            }
        }}}}}
        return gx
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
                for oy in 0..<oh {
                    let y0 = oy * s.stride - s.padding
                    let ya = max(0, y0), yb = min(h, y0 + s.kernelH)
                    for ox in 0..<ow {
                        let x0 = ox * s.stride - s.padding
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
