import Foundation

/// Binary cross-entropy on one-hot targets, as the B-cos papers train (v1 `LogitsBCE`).
public enum Loss {
    /// Mean over batch x classes of `softplus(z) - y z` for one-hot `y`.
    ///
    /// - Parameters:
    ///   - logits: `[N, K]`.
    ///   - labels: N class indices.
    /// - Returns: the loss and its gradient with respect to the logits, `(σ(z) - y) / (N K)`.
    public static func bceOneHot(logits: Tensor, labels: [Int]) -> (loss: Double, gradient: Tensor) {
        let n = logits.shape[0], k = logits.shape[1]
        precondition(labels.count == n, "\(labels.count) labels for \(n) logits")
        var grad = Tensor(shape: logits.shape)
        var total = 0.0
        let scale = 1 / Double(n * k)
        for i in 0..<n {
            for j in 0..<k {
                let z = Double(logits.data[i * k + j]), y: Double = labels[i] == j ? 1 : 0
                // softplus(z) = max(z, 0) + log1p(exp(-|z|)), stable for large |z|
                total += max(z, 0) + Foundation.log1p(Foundation.exp(-abs(z))) - y * z
                let sig = z >= 0 ? 1 / (1 + Foundation.exp(-z)) : Foundation.exp(z) / (1 + Foundation.exp(z))
                grad.data[i * k + j] = Float((sig - y) * scale)
            }
        }
        return (total * scale, grad)
    }
}

/// Adam with bias correction, step for step like `torch.optim.Adam` (no weight decay unless set; L2 style).
public struct Adam: Sendable {
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    public var weightDecay: Double = 0
    /// Steps taken so far.
    public var step: Int = 0
    /// First and second moment estimates by parameter key.
    public var m: [String: [Float]] = [:]
    public var v: [String: [Float]] = [:]

    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    /// Updates `param` in place with `grad`; call `beginStep()` once per optimiser step before the updates.
    public mutating func update(_ param: inout [Float], grad: [Float], key: String, lr: Double) {
        precondition(param.count == grad.count, "Adam: \(key) has \(param.count) values but \(grad.count) gradients")
        var mk = m[key] ?? [Float](repeating: 0, count: param.count)
        var vk = v[key] ?? [Float](repeating: 0, count: param.count)
        let t = Double(step)
        let bc1 = 1 - Foundation.pow(beta1, t), bc2Sqrt = (1 - Foundation.pow(beta2, t)).squareRoot()
        let stepSize = Float(lr / bc1)
        let b1 = Float(beta1), b2 = Float(beta2), e = Float(eps), wd = Float(weightDecay)
        for i in param.indices {
            var g = grad[i]
            if wd != 0 { g += wd * param[i] }
            mk[i] += (1 - b1) * (g - mk[i])
            vk[i] = vk[i] * b2 + (1 - b2) * g * g
            let denom = vk[i].squareRoot() / Float(bc2Sqrt) + e
            param[i] -= stepSize * mk[i] / denom
        }
        m[key] = mk
        v[key] = vk
    }

    /// Advances the step counter (bias corrections use the new value).
    public mutating func beginStep() { step += 1 }
}

/// Learning rate per optimiser step: linear warm-up, then cosine decay from `base` to `floor`.
public struct CosineSchedule: Sendable, Equatable {
    public var base: Double
    public var totalSteps: Int
    public var warmupSteps: Int
    public var floor: Double

    public init(base: Double, totalSteps: Int, warmupSteps: Int = 0, floor: Double = 0) {
        self.base = base
        self.totalSteps = max(1, totalSteps)
        self.warmupSteps = max(0, warmupSteps)
        self.floor = floor
    }

    /// The rate for step `s` (0-based).
    public func rate(at s: Int) -> Double {
        if s < warmupSteps { return base * Double(s + 1) / Double(warmupSteps) }
        let progress = Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        return floor + (base - floor) * 0.5 * (1 + Foundation.cos(Double.pi * min(1, progress)))
    }
}

/// Training-time augmentation of planar images `[B, C, H, W]`: random crop with zero padding and random
/// horizontal flip (torchvision's `RandomCrop(size, padding)` + `RandomHorizontalFlip()`), seeded.
public enum Augment {
    public static func cropAndFlip(_ images: [Float], count: Int, channels c: Int, height h: Int, width w: Int,
                                   padding: Int, flip: Bool, rng: inout SplitMix64) -> [Float] {
        var out = [Float](repeating: 0, count: images.count)
        let plane = h * w
        for i in 0..<count {
            let dy = padding > 0 ? Int(rng.next() % UInt64(2 * padding + 1)) - padding : 0
            let dx = padding > 0 ? Int(rng.next() % UInt64(2 * padding + 1)) - padding : 0
            let mirror = flip && (rng.next() & 1) == 1
            for ch in 0..<c {
                let src = (i * c + ch) * plane
                for y in 0..<h {
                    let sy = y + dy
                    if sy < 0 || sy >= h { continue }
                    for x in 0..<w {
                        let cx = mirror ? w - 1 - x : x
                        let sx = cx + dx
                        if sx < 0 || sx >= w { continue }
                        out[src + y * w + x] = images[src + sy * w + sx]
                    }
                }
            }
        }
        return out
    }
}

extension BcosModel {
    /// Node index and state-dict key of every trainable weight, in state-dict order.
    public var weightNodes: [(node: Int, key: String)] {
        network.nodes.indices.compactMap { i in
            if case .bcosConv = network.nodes[i].op { return (i, "\(network.nodes[i].name).linear.weight") }
            return nil
        }
    }

    /// Forward, BCE loss, full backward and one Adam update on encoded images `[N, C, H, W]`.
    ///
    /// - Returns: the loss before the update and the logits `[N, K]`.
    @discardableResult
    public mutating func trainStep(_ x: Tensor, labels: [Int], optimizer: inout Adam, lr: Double) -> (loss: Double, logits: Tensor) {
        let (loss, logits, grads) = lossAndGradients(x, labels: labels)
        optimizer.beginStep()
        for (node, key) in weightNodes {
            guard case .bcosConv(var layer) = network.nodes[node].op, let g = grads[node] else { continue }
            var w = layer.weight.data
            optimizer.update(&w, grad: g.data, key: key, lr: lr)
            layer.setWeight(Tensor(shape: layer.weight.shape, data: w))
            network.setOp(.bcosConv(layer), at: node)
        }
        return (loss, logits)
    }

    /// The BCE loss on encoded images and the gradient of every raw weight, by node index.
    public func lossAndGradients(_ x: Tensor, labels: [Int]) -> (loss: Double, logits: Tensor, gradients: [Int: Tensor]) {
        let trace = network.forward(x, record: .training)
        let (loss, seed) = Loss.bceOneHot(logits: trace.output, labels: labels)
        let grads = network.backward(trace, from: network.nodes.count - 1, seed: seed, mode: .training)
        return (loss, trace.output, grads.weights)
    }
}
