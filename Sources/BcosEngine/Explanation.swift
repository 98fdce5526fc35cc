/// Where in a channel's activation map a neuron explanation starts.
public enum NeuronPosition: Sendable, Equatable {
    /// One position `(y, x)` of the layer's output.
    case at(y: Int, x: Int)
    /// The spatial sum of the channel.
    case sum
    /// The position of the channel's largest activation.
    case max
}

/// What to explain.
public enum ExplanationTarget: Sendable, Equatable {
    /// The predicted class's logit.
    case predicted
    /// One class logit.
    case logit(Int)
    /// `logit_a - logit_b` (linear, so W_a(x) - W_b(x)).
    case difference(Int, Int)
    /// Top-1 logit minus top-2 logit (the paper's Δ map).
    case topTwoDelta
    /// One activation of an intermediate layer (times the sign of the activation, as the paper does).
    case neuron(layer: String, channel: Int, position: NeuronPosition)

    /// Parses what a user typed: a class name or index, `top2-delta`, `A-B` (two classes), `LAYER:CHANNEL`,
    /// `LAYER:CHANNEL@max`, `LAYER:CHANNEL@sum` or `LAYER:CHANNEL@Y,X`.
    public static func parse(_ text: String, model: BcosModel) throws -> ExplanationTarget {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s.isEmpty || s == "predicted" || s == "pred" { return .predicted }
        if s == "top2-delta" || s == "delta" { return .topTwoDelta }
        if let colon = s.lastIndex(of: ":") {
            let layer = String(s[..<colon])
            var rest = String(s[s.index(after: colon)...])
            var position = NeuronPosition.sum
            if let at = rest.firstIndex(of: "@") {
                let pos = rest[rest.index(after: at)...]
                rest = String(rest[..<at])
                if pos == "max" {
                    position = .max
                } else if pos == "sum" {
                    position = .sum
                } else {
                    let parts = pos.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                    guard parts.count == 2, let y = parts[0], let x = parts[1] else {
                        throw BcosError("bad neuron position '@\(pos)' in target '\(text)'; use @Y,X, @max or @sum")
                    }
                    position = .at(y: y, x: x)
                }
            }
            guard let channel = Int(rest), channel >= 0 else {
                throw BcosError("bad channel '\(rest)' in target '\(text)'; use LAYER:CHANNEL, e.g. 5:17")
            }
            let node = try model.nodeIndex(layer)
            return .neuron(layer: model.network.nodes[node].name, channel: channel, position: position)
        }
        if let i = try? model.classIndex(s) { return .logit(i) }
        if let dash = s.firstIndex(of: "-"), dash != s.startIndex {
            let a = String(s[..<dash]), b = String(s[s.index(after: dash)...])
            if let ia = try? model.classIndex(a), let ib = try? model.classIndex(b) { return .difference(ia, ib) }
        }
        _ = try model.classIndex(s)
        throw BcosError("unknown target '\(text)'")
    }
}

/// The explanation of one target for one image: the dynamic linear map W(x) and its contributions.
public struct Explanation: Sendable {
    /// Logits of the image `[K]`.
    public let logits: [Float]
    /// Index of the largest logit.
    public let predicted: Int
    /// The resolved target (never `.predicted` or `.topTwoDelta`; those become `.logit` / `.difference`).
    public let target: ExplanationTarget
    /// Human-readable target, e.g. `logit 3 (cat)` or `layer 5 channel 17 at (3, 4)`.
    public let targetDescription: String
    /// The explained quantity without constant offsets: logit − bias, a difference of logits, or |activation|.
    /// The contributions must sum to it.
    public let explainedValue: Double
    /// The encoded input `[C, H, W]`.
    public let input: Tensor
    /// W(x) for the target, same shape as the input `[C, H, W]`.
    public let weights: Tensor
    /// Σ over channels of x · W(x), `[H, W]`.
    public let contributions: Tensor

    /// |Σ contributions − explained value|, which is float rounding only when the explanation is exact.
    public var completenessError: Double {
        abs(contributions.data.reduce(0.0) { $0 + Double($1) } - explainedValue)
    }
}

extension BcosModel {
    /// Explains one target for one encoded image `[1, C, H, W]` with one forward and one backward pass.
    public func explain(_ x: Tensor, target: ExplanationTarget) throws -> Explanation {
        try explain(x, targets: [target])[0]
    }

    /// Several explanations of one image from one forward pass (the dynamic factors and MaxOut choices do not
    /// depend on what is explained), in `targets` order.
    public func explain(_ x: Tensor, targets: [ExplanationTarget]) throws -> [Explanation] {
        precondition(x.shape.count == 4 && x.shape[0] == 1, "explain takes one image [1, C, H, W], got \(x.shape)")
        let trace = network.forward(x, record: .explanation)
        return try targets.map { try explain(x, target: $0, trace: trace) }
    }

    private func explain(_ x: Tensor, target: ExplanationTarget, trace: Trace) throws -> Explanation {
        let logits = trace.output.data
        let order = logits.indices.sorted { logits[$0] > logits[$1] }
        let predicted = order[0]
        let last = network.nodes.count - 1
        var seed: Tensor
        var node = last
        var resolved = target
        var value: Double
        var description: String
        switch target {
        case .predicted, .logit:
            let k: Int
            if case .logit(let c) = target { k = c } else { k = predicted }
            guard k >= 0 && k < logits.count else {
                throw BcosError("class index \(k) is out of range; this model has classes 0...\(logits.count - 1)")
            }
            resolved = .logit(k)
            seed = Tensor(shape: [1, logits.count])
            seed.data[k] = 1
            value = Double(logits[k]) - Double(logitBias)
            description = "logit \(labelled(k))"
        case .topTwoDelta, .difference:
            var a = order[0], b = order.count > 1 ? order[1] : order[0]
            if case .difference(let i, let j) = target { a = i; b = j }
            guard logits.indices.contains(a), logits.indices.contains(b), a != b else {
                throw BcosError("a difference needs two different classes in 0...\(logits.count - 1)")
            }
            resolved = .difference(a, b)
            seed = Tensor(shape: [1, logits.count])
            seed.data[a] = 1
            seed.data[b] = -1
            value = Double(logits[a]) - Double(logits[b])
            description = "logit \(labelled(a)) - logit \(labelled(b))"
        case .neuron(let layer, let channel, let position):
            node = try layerIndex(layer)
            let act = trace.outputs[node]!
            let shape = act.shape
            let channels = shape[1]
            guard channel < channels else {
                throw BcosError("layer '\(layer)' has channels 0...\(channels - 1); channel \(channel) does not exist")
            }
            let h = shape.count == 4 ? shape[2] : 1, w = shape.count == 4 ? shape[3] : 1
            let plane = Array(act.data[(channel * h * w)..<((channel + 1) * h * w)])
            seed = Tensor(shape: shape)
            var offset = 0.0
            if case .logit(let l) = network.nodes[node].op { offset = Double(l.bias) }
            switch position {
            case .sum:
                let total = plane.reduce(0.0) { $0 + Double($1) }
                let sign: Float = total < 0 ? -1 : 1
                for i in 0..<(h * w) { seed.data[channel * h * w + i] = sign }
                value = abs(total - offset * Double(h * w))
                description = "layer \(layer) channel \(channel), summed over \(h)x\(w) positions"
            case .at, .max:
                var y = 0, xx = 0
                if case .at(let py, let px) = position {
                    guard (0..<h).contains(py) && (0..<w).contains(px) else {
                        throw BcosError("position (\(py), \(px)) is outside layer '\(layer)' of size \(h)x\(w)")
                    }
                    y = py; xx = px
                } else {
                    let best = plane.indices.max { plane[$0] < plane[$1] } ?? 0
                    y = best / w; xx = best % w
                }
                let a = plane[y * w + xx]
                seed.data[channel * h * w + y * w + xx] = a < 0 ? -1 : 1
                value = abs(Double(a) - offset)
                resolved = .neuron(layer: layer, channel: channel, position: .at(y: y, x: xx))
                description = "layer \(layer) channel \(channel) at (\(y), \(xx))"
            }
        }
        let gx = network.backwardExplain(trace, from: node, seed: seed)
        let c = x.shape[1], h = x.shape[2], w = x.shape[3]
        var contributions = Tensor(shape: [h, w])
        for ch in 0..<c {
            for i in 0..<(h * w) { contributions.data[i] += x.data[ch * h * w + i] * gx.data[ch * h * w + i] }
        }
        return Explanation(logits: logits, predicted: predicted, target: resolved, targetDescription: description,
                           explainedValue: value, input: x.item(0), weights: gx.item(0), contributions: contributions)
    }

    /// `3 (cat)`: a class index with its name.
    func labelled(_ k: Int) -> String { "\(k) (\(classes[k]))" }
}

/// A channel of a layer ranked by its activation for one image.
public struct RankedNeuron: Sendable, Equatable {
    public var channel: Int
    /// The channel's largest activation (or its mean over positions when ranking by mean).
    public var activation: Float
    /// Position of the largest activation.
    public var y: Int
    public var x: Int
}

extension BcosModel {
    /// The `top` channels of `layer` for one encoded image `[1, C, H, W]`, ranked by their maximum activation over
    /// positions (or by their mean with `byMean`), best first, each explained from its most active position (times
    /// the sign of the activation): all from one recorded forward pass.
    public func explainNeurons(_ x: Tensor, layer: String, top: Int,
                               byMean: Bool = false) throws -> [(neuron: RankedNeuron, explanation: Explanation)] {
        precondition(x.shape.count == 4 && x.shape[0] == 1, "explain takes one image [1, C, H, W], got \(x.shape)")
        let trace = network.forward(x, record: .explanation)
        let node = try layerIndex(layer)
        let ranked = Self.rank(trace.outputs[node]!, top: top, byMean: byMean)
        return try ranked.map { n in
            let target = ExplanationTarget.neuron(layer: layer, channel: n.channel, position: .at(y: n.y, x: n.x))
            return (n, try explain(x, target: target, trace: trace))
        }
    }

    /// The `top` channels of an activation `[1, C, H, W]` (or `[1, C]`), ranked by their maximum activation over
    /// positions (or their mean), best first.
    static func rank(_ act: Tensor, top: Int, byMean: Bool) -> [RankedNeuron] {
        let c = act.shape[1], h = act.shape.count == 4 ? act.shape[2] : 1, w = act.shape.count == 4 ? act.shape[3] : 1
        var ranked = [RankedNeuron]()
        for ch in 0..<c {
            let plane = act.data[(ch * h * w)..<((ch + 1) * h * w)]
            let best = plane.indices.max { plane[$0] < plane[$1] }! - ch * h * w
            let score = byMean ? plane.reduce(0, +) / Float(h * w) : plane[ch * h * w + best]
            ranked.append(RankedNeuron(channel: ch, activation: score, y: best / w, x: best % w))
        }
        ranked.sort { $0.activation > $1.activation }
        return Array(ranked.prefix(max(0, top)))
    }
}

extension BcosModel {
    /// The ordinary (autograd) gradient of `logit[target]` with respect to encoded inputs `[N, C, H, W]`, nothing
    /// detached, as post-hoc methods use it; also the gradients at the nodes in `keep`.
    ///
    /// - Returns: logits `[N, K]`, the input gradient `[N, C, H, W]`, kept node gradients and the trace.
    public func gradient(_ x: Tensor, target: Int, keep: Set<Int> = []) -> (logits: Tensor, input: Tensor, nodes: [Int: Tensor], trace: Trace) {
        let trace = network.forward(x, record: .training)
        let logits = trace.output
        var seed = Tensor(shape: logits.shape)
        for i in 0..<logits.shape[0] { seed.data[i * logits.shape[1] + target] = 1 }
        let g = network.backward(trace, from: network.nodes.count - 1, seed: seed, mode: .gradient, keep: keep)
        return (logits, g.input!, g.nodes, trace)
    }

    /// The gradients of several logits from one recorded forward pass, in `targets` order: the input gradient
    /// `[N, C, H, W]` and the gradients at the nodes in `keep`, per target.
    public func gradients(_ x: Tensor, targets: [Int], keep: Set<Int> = []) -> (logits: Tensor, inputs: [Tensor],
                                                                                nodes: [[Int: Tensor]], trace: Trace) {
        let trace = network.forward(x, record: .training)
        let logits = trace.output
        let grads = targets.map { target in
            var seed = Tensor(shape: logits.shape)
            for i in 0..<logits.shape[0] { seed.data[i * logits.shape[1] + target] = 1 }
            return network.backward(trace, from: network.nodes.count - 1, seed: seed, mode: .gradient, keep: keep)
        }
        return (logits, grads.map { $0.input! }, grads.map(\.nodes), trace)
    }
}
