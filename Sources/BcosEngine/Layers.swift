/// Average pooling with a square window (PyTorch `AvgPool2d`, `count_include_pad=True`). Linear.
public struct AvgPool2d: Sendable, Equatable {
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    public init(kernel: Int, stride: Int, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputSize(_ h: Int, _ w: Int) -> (h: Int, w: Int) {
        (slidingWindowCount(h, kernel: kernel, stride: stride, padding: padding),
         slidingWindowCount(w, kernel: kernel, stride: stride, padding: padding))
    }

    /// `[N, C, H, W] -> [N, C, oh, ow]`: window sums divided by `kernel^2` (zero padding counts).
    public func forward(_ x: Tensor) -> Tensor {
        let nc = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let (oh, ow) = outputSize(h, w)
        var y = Tensor(shape: [x.shape[0], x.shape[1], oh, ow])
        let inv = 1 / Float(kernel * kernel)
        for plane in 0..<nc {
            for oy in 0..<oh {
                let y0 = oy * stride - padding
                for ox in 0..<ow {
                    let x0 = ox * stride - padding
                    var acc: Float = 0
                    for yy in max(0, y0)..<min(h, y0 + kernel) {
                        for xx in max(0, x0)..<min(w, x0 + kernel) { acc += x.data[(plane * h + yy) * w + xx] }
                    }
                    y.data[(plane * oh + oy) * ow + ox] = acc * inv
                }
            }
        }
        return y
    }

    /// Transpose of `forward`: spreads each output gradient evenly over its window.
    public func backward(_ g: Tensor, inputH h: Int, inputW w: Int) -> Tensor {
        let nc = g.shape[0] * g.shape[1], oh = g.shape[2], ow = g.shape[3]
        var gx = Tensor(shape: [g.shape[0], g.shape[1], h, w])
        let inv = 1 / Float(kernel * kernel)
        for plane in 0..<nc {
            for oy in 0..<oh {
                let y0 = oy * stride - padding
                for ox in 0..<ow {
                    let x0 = ox * stride - padding
                    let v = g.data[(plane * oh + oy) * ow + ox] * inv
                    for yy in max(0, y0)..<min(h, y0 + kernel) {
                        for xx in max(0, x0)..<min(w, x0 + kernel) { gx.data[(plane * h + yy) * w + xx] += v }
                    }
                }
            }
        }
        return gx
    }
}

/// Global mean over positions: `[N, C, H, W] -> [N, C]`. Linear.
public enum GlobalAvgPool {
    public static func forward(_ x: Tensor) -> Tensor {
        let n = x.shape[0], c = x.shape[1], p = x.shape[2] * x.shape[3]
        var y = Tensor(shape: [n, c])
        for i in 0..<(n * c) {
            var acc: Double = 0
            for j in 0..<p { acc += Double(x.data[i * p + j]) }
            y.data[i] = Float(acc / Double(p))
        }
        return y
    }

    public static func backward(_ g: Tensor, inputH h: Int, inputW w: Int) -> Tensor {
        let n = g.shape[0], c = g.shape[1], p = h * w
        var gx = Tensor(shape: [n, c, h, w])
        let inv = 1 / Float(p)
        for i in 0..<(n * c) {
            let v = g.data[i] * inv
            for j in 0..<p { gx.data[i * p + j] = v }
        }
        return gx
    }
}

/// Channel concatenation of `[N, C_i, H, W]` tensors (DenseNet). Linear.
public enum Concat {
    public static func forward(_ xs: [Tensor]) -> Tensor {
        let n = xs[0].shape[0], h = xs[0].shape[2], w = xs[0].shape[3]
        let cs = xs.map { $0.shape[1] }
        let ctot = cs.reduce(0, +), p = h * w
        var y = Tensor(shape: [n, ctot, h, w])
        for img in 0..<n {
            var off = 0
            for (t, c) in zip(xs, cs) {
                precondition(t.shape[0] == n && t.shape[2] == h && t.shape[3] == w,
                             "concat of mismatched shapes \(xs.map(\.shape))")
                for k in 0..<(c * p) { y.data[(img * ctot + off) * p + k] = t.data[img * c * p + k] }
                off += c
            }
        }
        return y
    }

    /// Splits the gradient back into the inputs' channel ranges.
    public static func backward(_ g: Tensor, channels cs: [Int]) -> [Tensor] {
        let n = g.shape[0], h = g.shape[2], w = g.shape[3], p = h * w, ctot = g.shape[1]
        var off = 0
        var outs = [Tensor]()
        for c in cs {
            var t = Tensor(shape: [n, c, h, w])
            for img in 0..<n {
                for k in 0..<(c * p) { t.data[img * c * p + k] = g.data[(img * ctot + off) * p + k] }
            }
            outs.append(t)
            off += c
        }
        return outs
    }
}

/// Per-channel multiply (and optional add): v2's uncentred batch norm in eval mode,
/// `y = x * weight / sqrt(running_var + eps) (+ bias)`. Linear in `x` apart from the bias.
public struct ChannelAffine: Sendable, Equatable {
    /// Per-channel multiplier `[C]`.
    public var multiplier: [Float]
    /// Per-channel offset `[C]` (empty for none).
    public var offset: [Float]
    /// The batch norm's stored `weight` and `running_var` when built from them (to save the model again).
    public private(set) var batchNorm: (weight: [Float], runningVar: [Float])?
    /// ConvNeXt's `layer_scale` parameter `[C, 1, 1]` (the multiplier itself).
    public private(set) var isLayerScale = false

    /// A ConvNeXt layer scale: the block's output times a learnt per-channel factor.
    public init(layerScale: [Float]) {
        self.init(multiplier: layerScale)
        isLayerScale = true
    }

    public init(multiplier: [Float], offset: [Float] = []) {
        precondition(offset.isEmpty || offset.count == multiplier.count, "affine offset/multiplier size mismatch")
        self.multiplier = multiplier
        self.offset = offset
    }

    /// Uncentred batch norm (eval): `weight / sqrt(running_var + eps)`.
    public init(batchNormWeight weight: [Float], runningVar: [Float], eps: Float = 1e-5, bias: [Float] = []) {
        self.init(multiplier: zip(weight, runningVar).map { $0 / ($1 + eps).squareRoot() }, offset: bias)
        batchNorm = (weight, runningVar)
    }

    public static func == (a: ChannelAffine, b: ChannelAffine) -> Bool {
        a.multiplier == b.multiplier && a.offset == b.offset && a.isLayerScale == b.isLayerScale
            && a.batchNorm?.weight == b.batchNorm?.weight
            && a.batchNorm?.runningVar == b.batchNorm?.runningVar
    }

    public func forward(_ x: Tensor) -> Tensor {
        let c = x.shape[1], p = x.shape[2] * x.shape[3]
        precondition(c == multiplier.count, "affine over \(multiplier.count) channels got \(x.shape)")
        var y = x
        for i in 0..<(x.shape[0] * c) {
            let a = multiplier[i % c], o = offset.isEmpty ? 0 : offset[i % c]
            for j in 0..<p { y.data[i * p + j] = x.data[i * p + j] * a + o }
        }
        return y
    }

    public func backward(_ g: Tensor) -> Tensor {
        let c = g.shape[1], p = g.shape[2] * g.shape[3]
        var gx = g
        for i in 0..<(g.shape[0] * c) {
            let a = multiplier[i % c]
            for j in 0..<p { gx.data[i * p + j] *= a }
        }
        return gx
    }
}

/// The logit layer: `logit = x / temperature + bias` on `[N, K]` (v1 `FinalLayer`, v2 `LogitLayer`).
public struct LogitLayer: Sendable, Equatable {
    public var temperature: Float
    public var bias: Float

    public init(temperature: Float = 1, bias: Float = 0) {
        self.temperature = temperature
        self.bias = bias
    }

    public func forward(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, data: x.data.map { $0 / temperature + bias })
    }

    /// Gradient through the division (the bias adds nothing to any input gradient).
    public func backward(_ g: Tensor) -> Tensor {
        Tensor(shape: g.shape, data: g.data.map { $0 / temperature })
    }
}

/// v2's position norm (ConvNeXt): a LayerNorm over the channels at every pixel, centred, without bias:
/// `y = (x − mean_c x) / sqrt(var_c x + eps) · weight` (biased variance). In explanation mode the official code
/// detaches the standard deviation, so the layer is linear (mean subtraction included) and bias-free.
public struct PositionNorm: Sendable, Equatable {
    public var weight: [Float]
    public var eps: Float

    public init(weight: [Float], eps: Float = 1e-6) {
        self.weight = weight
        self.eps = eps
    }

    /// `y` and the standard deviation of every pixel `[N*H*W]`; with `frozen` the given deviations are used.
    public func forward(_ x: Tensor, frozen: [Float]? = nil) -> (y: Tensor, std: [Float]) {
        let n = x.shape[0], c = x.shape[1], p = x.count / max(1, n * c)
        precondition(c == weight.count, "position norm over \(weight.count) channels got \(x.shape)")
        var y = x
        var std = frozen ?? [Float](repeating: 1, count: n * p)
        for img in 0..<n {
            for j in 0..<p {
                var sum = 0.0, sq = 0.0
                for ch in 0..<c {
                    let v = Double(x.data[(img * c + ch) * p + j])
                    sum += v
                    sq += v * v
                }
                let mean = sum / Double(c)
                if frozen == nil { std[img * p + j] = Float((max(0, sq / Double(c) - mean * mean) + Double(eps)).squareRoot()) }
                let s = std[img * p + j], m = Float(mean)
                for ch in 0..<c {
                    let k = (img * c + ch) * p + j
                    y.data[k] = (x.data[k] - m) / s * weight[ch]
                }
            }
        }
        return (y, std)
    }

    /// Explanation backward (deviation constant): `dx = (g·w − mean_c(g·w)) / std`.
    public func backwardExplain(_ g: Tensor, std: [Float]) -> Tensor {
        let n = g.shape[0], c = g.shape[1], p = g.count / max(1, n * c)
        var gx = g
        for img in 0..<n {
            for j in 0..<p {
                var mean: Float = 0
                for ch in 0..<c { mean += g.data[(img * c + ch) * p + j] * weight[ch] }
                mean /= Float(c)
                let s = std[img * p + j]
                for ch in 0..<c {
                    let k = (img * c + ch) * p + j
                    gx.data[k] = (g.data[k] * weight[ch] - mean) / s
                }
            }
        }
        return gx
    }

    /// The full gradient (deviation not detached), as autograd gives it:
    /// `dx = (g·w − mean(g·w) − x̂ · mean(g·w·x̂)) / std` with `x̂ = (x − mean) / std`.
    public func backwardFull(_ g: Tensor, input x: Tensor, std: [Float]) -> Tensor {
        let n = g.shape[0], c = g.shape[1], p = g.count / max(1, n * c)
        var gx = g
        for img in 0..<n {
            for j in 0..<p {
                var mx: Float = 0
                for ch in 0..<c { mx += x.data[(img * c + ch) * p + j] }
                mx /= Float(c)
                let s = std[img * p + j]
                var mgw: Float = 0, mgwx: Float = 0
                for ch in 0..<c {
                    let k = (img * c + ch) * p + j
                    let gw = g.data[k] * weight[ch], xh = (x.data[k] - mx) / s
                    mgw += gw
                    mgwx += gw * xh
                }
                mgw /= Float(c)
                mgwx /= Float(c)
                for ch in 0..<c {
                    let k = (img * c + ch) * p + j
                    let xh = (x.data[k] - mx) / s
                    gx.data[k] = (g.data[k] * weight[ch] - mgw - xh * mgwx) / s
                }
            }
        }
        return gx
    }
}
