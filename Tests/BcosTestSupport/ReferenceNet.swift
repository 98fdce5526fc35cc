import BcosEngine
import Foundation

/// The v1 9-layer B-cos net in Double, naive loops straight from BCOS_REFERENCE §1: conv with unit-norm weights,
/// MaxOut, patch norm, dynamic scale, layer scale, global mean, logit layer, BCE on one-hot targets.
///
/// It shares no code with the engine, so tests use it as the independent double-precision reference: finite
/// differences of it carry ~1e-10 relative error, far below float32's, on any CPU.
public struct ReferenceNet {
    public let cfg: ModelConfig
    /// Raw weights per conv layer, `[out * maxOut, in, k, k]` flattened.
    public var weights: [[Double]]

    /// What explanation mode freezes at an input x, per layer and output element `(o, oy, ox)`: the MaxOut
    /// winner and the dynamic factor (|lin| / norm at B = 2, (|lin / norm| + 1e-6)^(B − 1) otherwise).
    public struct Frozen {
        var winners: [[Int]] = []
        var factors: [[Double]] = []
    }

    public init(cfg: ModelConfig, weights: [[Double]]) {
        self.cfg = cfg
        self.weights = weights
    }

    /// The reference for a model's config and weights.
    public init(_ model: BcosModel) {
        self.init(cfg: model.config, weights: model.stateDict().map { $0.tensor.data.map(Double.init) })
    }

    /// One B-cos conv layer; with `frozen`, the winner and dynamic factor recorded at another input are used
    /// (the layer is then linear in x), and `record` collects this input's.
    func conv(_ x: [Double], c: Int, h: Int, w: Int, layer i: Int, frozen: Frozen?, record: inout Frozen)
        -> (out: [Double], c: Int, h: Int, w: Int) {
        let k = cfg.kernelSizes[i], s = cfg.strides[i], p = cfg.paddings[i], m = cfg.maxOut
        let co = i < cfg.widths.count ? cfg.widths[i] : cfg.numClasses
        let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
        let rowLen = c * k * k
        var wn = weights[i]
        for r in 0..<(co * m) {
            let norm = (0..<rowLen).reduce(0.0) { $0 + wn[r * rowLen + $1] * wn[r * rowLen + $1] }.squareRoot()
            for j in 0..<rowLen { wn[r * rowLen + j] /= norm }
        }
        let scale = cfg.scaleFactor.map { Double(k) * Double(c).squareRoot() / $0 } ?? cfg.scale
        var out = [Double](repeating: 0, count: co * oh * ow)
        var winners = [Int](repeating: 0, count: co * oh * ow), factors = [Double](repeating: 0, count: co * oh * ow)
        for oy in 0..<oh {
            for ox in 0..<ow {
                var sq = 0.0
                var lins = [Double](repeating: 0, count: co * m)
                for ci in 0..<c {
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * s - p + ky, ix = ox * s - p + kx
                            guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                            let v = x[(ci * h + iy) * w + ix]
                            sq += v * v
                            for r in 0..<(co * m) { lins[r] += wn[r * rowLen + (ci * k + ky) * k + kx] * v }
                        }
                    }
                }
                let norm = (sq + 1e-6).squareRoot()
                for o in 0..<co {
                    let e = (o * oh + oy) * ow + ox
                    let winner = (0..<m).max { lins[o * m + $0] < lins[o * m + $1] }!
                    let lin = lins[o * m + winner]
                    let factor: Double
                    switch cfg.b {
                    case 1: factor = 1
                    case 2: factor = abs(lin) / norm
                    default: factor = Foundation.pow(abs(lin / norm) + 1e-6, cfg.b - 1)
                    }
                    winners[e] = winner
                    factors[e] = factor
                    if let f = frozen {
                        out[e] = lins[o * m + f.winners[i][e]] * f.factors[i][e] / scale
                    } else {
                        out[e] = lin * factor / scale
                    }
                }
            }
        }
        record.winners.append(winners)
        record.factors.append(factors)
        return (out, co, oh, ow)
    }

    /// Pooled class scores before temperature and bias, and what explanation mode freezes at this input.
    func run(_ x: [Double], c: Int, h: Int, w: Int, frozen: Frozen?) -> (pooled: [Double], record: Frozen) {
        var (a, cc, hh, ww) = (x, c, h, w)
        var record = Frozen()
        for i in 0..<weights.count { (a, cc, hh, ww) = conv(a, c: cc, h: hh, w: ww, layer: i, frozen: frozen, record: &record) }
        let pooled = (0..<cc).map { k in (0..<(hh * ww)).reduce(0.0) { $0 + a[k * hh * ww + $1] } / Double(hh * ww) }
        return (pooled, record)
    }

    /// The logits of one encoded image `[C, H, W]`; with `frozen` (from `freeze(at:)`), the frozen network's.
    public func logits(_ x: [Double], c: Int, h: Int, w: Int, frozen: Frozen? = nil) -> [Double] {
        scores(x, c: c, h: h, w: w, frozen: frozen).map { $0 + cfg.logitBias }
    }

    /// The logits minus the bias (what Σ x·W(x) sums to), computed without adding and removing the bias, which
    /// would round away scores far smaller than it.
    public func scores(_ x: [Double], c: Int, h: Int, w: Int, frozen: Frozen? = nil) -> [Double] {
        run(x, c: c, h: h, w: w, frozen: frozen).pooled.map { $0 / cfg.logitTemperature }
    }

    /// The MaxOut winners and dynamic factors at `x`: the network of explanation mode, linear in its input.
    public func freeze(at x: [Double], c: Int, h: Int, w: Int) -> Frozen {
        run(x, c: c, h: h, w: w, frozen: nil).record
    }

    /// Mean BCE-with-logits on one-hot targets over images x classes.
    public func loss(_ images: [[Double]], labels: [Int], c: Int, h: Int, w: Int) -> Double {
        var total = 0.0
        for (x, label) in zip(images, labels) {
            for (k, z) in logits(x, c: c, h: h, w: w).enumerated() {
                total += max(z, 0) + log1p(exp(-abs(z))) - (label == k ? z : 0)
            }
        }
        return total / Double(images.count * cfg.numClasses)
    }

    /// Central difference of logit `k` along input coordinate `j` (step `eps`).
    public func finiteDifference(_ x: [Double], c: Int, h: Int, w: Int, logit k: Int, coordinate j: Int,
                                 eps: Double, frozen: Frozen? = nil) -> Double {
        var xd = x
        xd[j] = x[j] + eps
        let up = logits(xd, c: c, h: h, w: w, frozen: frozen)[k]
        xd[j] = x[j] - eps
        let down = logits(xd, c: c, h: h, w: w, frozen: frozen)[k]
        return (up - down) / (2 * eps)
    }
}
