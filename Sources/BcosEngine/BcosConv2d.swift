import Foundation

/// What a forward pass keeps for the backward.
public enum Recording: Sendable, Equatable {
    /// Nothing: inference only; intermediate outputs are released early.
    case none
    /// The dynamic factors and MaxOut choices, for the explanation backward (W(x)).
    case explanation
    /// Also the selected linear responses and patch norms, for the full training backward.
    case training
}

/// What a B-cos convolution remembers from its forward pass.
public struct BcosConvCache: Sendable {
    /// The dynamic factor that multiplies the selected linear response, including `1/scale`:
    /// `out = factor * lin`. `[N, C_out, oh, ow]`.
    public var factor: [Float]
    /// Index (0..<M) of the MaxOut branch that won at every output; empty when `M == 1`. `[N, C_out, oh, ow]`.
    public var branch: [UInt8]
    /// Training only: the selected linear response `lin = ŵ_sel · x`, `[N, C_out, oh, ow]`.
    public var lin: [Float] = []
    /// Training only: the patch norms `sqrt(||patch||² + 1e-6)`, `[N, groups, oh, ow]` (empty for B = 1).
    public var norm: [Float] = []
    /// Input spatial size (needed to size the input gradient).
    public var inputH: Int
    public var inputW: Int
}

/// A B-cos convolution (BCOS_REFERENCE §1): unit-norm weights, MaxOut over consecutive channel groups,
/// the dynamic scale `|cos|^(B-1)` (or `|lin|/||x||` for B = 2), and the v1 output divisor `scale`.
public struct BcosConv2d: Sendable {
    /// Geometry of the underlying plain convolution, whose output has `outChannels * maxOut` channels.
    public private(set) var conv: ConvShape
    /// MaxOut group size M (1 = no MaxOut).
    public let maxOut: Int
    /// The B-cos exponent B (> 0; 1 makes the layer linear).
    public let b: Float
    /// v1 divisor applied to every output (1 for v2 layers).
    public let scale: Float
    /// Raw weights as stored in the checkpoint, `[C_out * M, C_in / groups, kh, kw]`.
    public private(set) var weight: Tensor
    /// The same weights with every output row scaled to unit L2 norm (computed once, when set).
    public private(set) var normalizedWeight: [Float]

    /// Channels after MaxOut.
    public var outChannels: Int { conv.outChannels / maxOut }

    /// - Parameters:
    ///   - inChannels, outChannels: channels in and out (after MaxOut).
    ///   - weight: raw weights `[outChannels * maxOut, inChannels / groups, k, k]`; rows must have non-zero norm.
    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
                maxOut: Int = 1, b: Float = 2, scale: Float = 1, weight: Tensor) {
        self.init(shape: ConvShape(inChannels: inChannels, outChannels: outChannels * maxOut, kernel: kernel,
                                   stride: stride, padding: padding, groups: groups),
                  maxOut: maxOut, b: b, scale: scale, weight: weight)
    }

    /// - Parameter shape: the plain convolution, with `outChannels * maxOut` output channels.
    public init(shape: ConvShape, maxOut: Int = 1, b: Float = 2, scale: Float = 1, weight: Tensor) {
        precondition(maxOut >= 1 && b > 0 && scale != 0, "bad B-cos parameters M=\(maxOut) B=\(b) scale=\(scale)")
        self.conv = shape
        self.maxOut = maxOut
        self.b = b
        self.scale = scale
        precondition(weight.shape == conv.weightShape, "weight shape \(weight.shape), expected \(conv.weightShape)")
        self.weight = weight
        self.normalizedWeight = BcosConv2d.normalizeRows(weight.data, rows: conv.outChannels)
    }

    /// The same layer without zero padding, for inputs that carry their own border (`Network.forwardLocal`).
    public func unpadded() -> BcosConv2d {
        var copy = self
        copy.conv.paddingH = 0
        copy.conv.paddingW = 0
        return copy
    }

    /// Replaces the raw weights (same shape) and renormalises.
    public mutating func setWeight(_ w: Tensor) {
        precondition(w.shape == conv.weightShape, "weight shape \(w.shape), expected \(conv.weightShape)")
        weight = w
        normalizedWeight = BcosConv2d.normalizeRows(w.data, rows: conv.outChannels)
    }

    /// Index of the first output row whose weights have zero norm, if any.
    public static func zeroNormRow(_ w: Tensor) -> Int? {
        let rows = w.shape[0], k = w.count / max(1, rows)
        for r in 0..<rows where !(0..<k).contains(where: { w.data[r * k + $0] != 0 }) { return r }
        return nil
    }

    static func normalizeRows(_ w: [Float], rows: Int) -> [Float] {
        let k = w.count / rows
        var out = w
        for r in 0..<rows {
            var ss = 0.0
            for i in 0..<k { ss += Double(w[r * k + i]) * Double(w[r * k + i]) }
            let inv = Float(1 / ss.squareRoot())
            for i in 0..<k { out[r * k + i] = w[r * k + i] * inv }
        }
        return out
    }

    /// Output spatial size for an `h x w` input.
    public func outputSize(_ h: Int, _ w: Int) -> (h: Int, w: Int) { conv.outputSize(h, w) }

    /// Forward pass on `x` `[N, C_in, H, W]`, giving `[N, C_out, oh, ow]`.
    ///
    /// - Parameters:
    ///   - record: what to keep for a backward pass.
    ///   - frozen: reuse the MaxOut branches and dynamic factors of an earlier pass (the layer is then exactly
    ///     linear in `x`: the map whose gradient the explanation backward computes).
    public func forward(_ x: Tensor, record: Recording, frozen: BcosConvCache? = nil) -> (Tensor, BcosConvCache?) {
        let (oh, ow) = conv.outputSize(x.shape[2], x.shape[3])
        let n = x.shape[0], p = oh * ow, co = outChannels, m = maxOut
        var out = Tensor(shape: [n, co, oh, ow])
        if let frozen {
            precondition(frozen.factor.count == out.count, "frozen cache does not match input shape \(x.shape)")
            out.data.withUnsafeMutableBufferPointer { ob in
            frozen.factor.withUnsafeBufferPointer { fb in
            frozen.branch.withUnsafeBufferPointer { bb in
                let op = SharedPointer(ob.baseAddress!), fp = SharedReadPointer(fb.baseAddress!)
                let bp = bb.baseAddress.map { SharedReadPointer($0) }
                ConvKernels.forward(x, weight: normalizedWeight, shape: conv, rowAlign: m) { img, rows, raw, ld in
                    for c in (rows.lowerBound / m)..<(rows.upperBound / m) {
                        let base = raw + c * m * ld, j0 = (img * co + c) * p
                        for i in 0..<p {
                            let sel = m > 1 ? Int(bp!.base[j0 + i]) : 0
                            op.base[j0 + i] = base[sel * ld + i] * fp.base[j0 + i]
                        }
                    }
                }
            }}}
            return (out, nil)
        }
        let norms = b != 1 ? ConvKernels.patchSquaredNorms(x, shape: conv) : Tensor(shape: [0])
        let groups = conv.groups, perGroup = co / groups
        let keep = record != .none, train = record == .training
        var factor = [Float](repeating: 0, count: keep ? out.count : 0)
        var branch = [UInt8](repeating: 0, count: keep && m > 1 ? out.count : 0)
        var linKept = [Float](repeating: 0, count: train ? out.count : 0)
        let bExp = b, invScale = 1 / scale
        norms.data.withUnsafeBufferPointer { nb in
        out.data.withUnsafeMutableBufferPointer { ob in
        factor.withUnsafeMutableBufferPointer { fb in
        branch.withUnsafeMutableBufferPointer { bb in
        linKept.withUnsafeMutableBufferPointer { lb in
            let op = SharedPointer(ob.baseAddress!)
            let np = nb.baseAddress.map { SharedReadPointer($0) }
            // Empty arrays may still have a base address: decide by what was allocated, not by the pointer.
            let fp = keep ? fb.baseAddress.map { SharedPointer($0) } : nil
            let bp = keep && m > 1 ? bb.baseAddress.map { SharedPointer($0) } : nil
            let lp = train ? lb.baseAddress.map { SharedPointer($0) } : nil
            ConvKernels.forward(x, weight: normalizedWeight, shape: conv, rowAlign: m) { img, rows, raw, ld in
                for c in (rows.lowerBound / m)..<(rows.upperBound / m) {
                    let base = raw + c * m * ld, j0 = (img * co + c) * p
                    let normRow = bExp == 1 ? nil : np.map { $0.base + (img * groups + c / perGroup) * p }
                    for i in 0..<p {
                        var lin = base[i]
                        var sel = 0
                        if m > 1 {
                            for k in 1..<m where base[k * ld + i] > lin {
                                lin = base[k * ld + i]
                                sel = k
                            }
                        }
                        var f: Float
                        if bExp == 1 {
                            f = invScale
                        } else {
                            let norm = (normRow![i] + 1e-6).squareRoot()
                            if bExp == 2 {
                                f = abs(lin) / norm * invScale
                            } else {
                                f = powf(abs(lin / norm) + 1e-6, bExp - 1) * invScale
                            }
                        }
                        op.base[j0 + i] = lin * f
                        if let fp { fp.base[j0 + i] = f }
                        if let bp { bp.base[j0 + i] = UInt8(sel) }
                        if let lp { lp.base[j0 + i] = lin }
                    }
                }
            }
        }}}}}
        guard keep else { return (out, nil) }
        var cache = BcosConvCache(factor: factor, branch: branch, inputH: x.shape[2], inputW: x.shape[3])
        if train {
            cache.lin = linKept
            if b != 1 { cache.norm = norms.data.map { ($0 + 1e-6).squareRoot() } }
        }
        return (out, cache)
    }

    /// Explanation-mode backward: the dynamic factor and the MaxOut selection are constants, so the layer is
    /// the linear map `x -> factor * (ŵ_sel · x)` and this returns its transpose applied to `gradOut`.
    ///
    /// - Parameters:
    ///   - gradOut: `[N, C_out, oh, ow]`.
    /// - Returns: gradient with respect to the input, `[N, C_in, H, W]`.
    public func backwardExplain(_ gradOut: Tensor, cache: BcosConvCache) -> Tensor {
        let n = gradOut.shape[0], co = outChannels, m = maxOut
        let oh = gradOut.shape[2], ow = gradOut.shape[3], p = oh * ow
        var gRaw = Tensor(shape: [n, co * m, oh, ow])
        gradOut.data.withUnsafeBufferPointer { gb in
        gRaw.data.withUnsafeMutableBufferPointer { rb in
            for nc in 0..<(n * co) {
                let base = rb.baseAddress! + (nc / co * co * m + nc % co * m) * p
                for i in 0..<p {
                    let j = nc * p + i
                    let sel = m > 1 ? Int(cache.branch[j]) : 0
                    base[sel * p + i] = gb[j] * cache.factor[j]
                }
            }
        }}
        return ConvKernels.backwardInput(gRaw, weight: normalizedWeight, shape: conv,
                                         inputH: cache.inputH, inputW: cache.inputW)
    }

    /// Full backward for training: the dynamic scale, the patch norm and the weight normalisation all carry
    /// gradient (nothing is detached), MaxOut routes to the winning branch.
    ///
    /// - Parameters:
    ///   - gradOut: `[N, C_out, oh, ow]`.
    ///   - input: the layer's forward input `[N, C_in, H, W]`.
    ///   - cache: recorded with `.training`.
    ///   - needInput: whether to compute the input gradient (not needed for the first layer).
    ///   - needWeight: whether to compute the weight gradient (not needed for input gradients of post-hoc methods).
    /// - Returns: the input gradient (empty tensor when not needed) and the gradient of the raw weights
    ///   `[C_out * M, C_in / groups, kh, kw]` (nil when not needed).
    public func backwardTrain(_ gradOut: Tensor, input x: Tensor, cache: BcosConvCache,
                              needInput: Bool = true, needWeight: Bool = true) -> (input: Tensor, weight: Tensor?) {
        precondition(cache.lin.count == gradOut.count, "backwardTrain needs a forward recorded with .training")
        let n = gradOut.shape[0], co = outChannels, m = maxOut
        let oh = gradOut.shape[2], ow = gradOut.shape[3], p = oh * ow
        let groups = conv.groups, perGroup = co / groups
        let invScale = 1 / scale, bExp = b
        var gRaw = Tensor(shape: [n, co * m, oh, ow])
        // dL/dnorm, summed over the channels that share each patch norm: [N, groups, oh, ow].
        var gNorm = [Float](repeating: 0, count: bExp == 1 ? 0 : n * groups * p)
        gradOut.data.withUnsafeBufferPointer { gb in
        gRaw.data.withUnsafeMutableBufferPointer { rb in
        gNorm.withUnsafeMutableBufferPointer { nb in
            for img in 0..<n {
                for c in 0..<co {
                    let j0 = (img * co + c) * p
                    let base = rb.baseAddress! + (img * co * m + c * m) * p
                    let normRow = (img * groups + c / perGroup) * p
                    for i in 0..<p {
                        let j = j0 + i, g = gb[j], lin = cache.lin[j]
                        var gLin: Float
                        if bExp == 1 {
                            gLin = g * invScale
                        } else {
                            let nv = cache.norm[normRow + i]
                            if bExp == 2 {
                                // out = lin |lin| / (norm s)
                                let a = abs(lin) / nv
                                gLin = g * 2 * a * invScale
                                nb[normRow + i] -= g * lin * a / nv * invScale
                            } else {
                                // out = lin (|lin|/norm + 1e-6)^(B-1) / s
                                let c1 = abs(lin) / nv, a = c1 + 1e-6
                                let a2 = powf(a, bExp - 2)
                                gLin = g * (a * a2 + (bExp - 1) * a2 * c1) * invScale
                                nb[normRow + i] -= g * (bExp - 1) * a2 * lin * c1 / nv * invScale
                            }
                        }
                        let sel = m > 1 ? Int(cache.branch[j]) : 0
                        base[sel * p + i] = gLin
                    }
                }
            }
        }}}
        var gx: Tensor, gwHat: [Float]?
        if needWeight {
            (gx, gwHat) = ConvKernels.backward(gRaw, input: x, weight: normalizedWeight, shape: conv, needInput: needInput)
        } else {
            gx = ConvKernels.backwardInput(gRaw, weight: normalizedWeight, shape: conv, inputH: x.shape[2], inputW: x.shape[3])
            gwHat = nil
        }
        if bExp != 1 && needInput {
            // norm = sqrt(S + 1e-6), S = box-sum of Σ_c x²: dL/dx += 2 x · boxsumᵀ(dL/dnorm / (2 norm)).
            let gS = zip(gNorm, cache.norm).map { $0 / (2 * $1) }
            ConvKernels.addPatchNormGradient(Tensor(shape: [n, groups, oh, ow], data: gS), input: x, shape: conv, into: &gx)
        }
        return (gx, gwHat.map { BcosConv2d.normalizeBackward($0, raw: weight, normalized: normalizedWeight, rows: conv.outChannels) })
    }

    /// Gradient through `ŵ = w / ||w||` (per output row): `(g - ŵ (ŵ · g)) / ||w||`.
    static func normalizeBackward(_ g: [Float], raw: Tensor, normalized: [Float], rows: Int) -> Tensor {
        let k = g.count / rows
        var out = [Float](repeating: 0, count: g.count)
        for r in 0..<rows {
            var dot = 0.0, ss = 0.0
            for i in 0..<k {
                dot += Double(normalized[r * k + i]) * Double(g[r * k + i])
                ss += Double(raw.data[r * k + i]) * Double(raw.data[r * k + i])
            }
            let inv = 1 / ss.squareRoot()
            for i in 0..<k {
                out[r * k + i] = Float((Double(g[r * k + i]) - Double(normalized[r * k + i]) * dot) * inv)
            }
        }
        return Tensor(shape: raw.shape, data: out)
    }
}
