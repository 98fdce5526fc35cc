/// One operation of a network graph.
public enum Op: Sendable {
    /// The encoded network input.
    case input
    case bcosConv(BcosConv2d)
    case avgPool(AvgPool2d)
    /// Mean over positions, `[N, C, H, W] -> [N, C]`.
    case globalAvgPool
    /// Element-wise sum of all inputs (residual connections).
    case add
    /// Channel concatenation of all inputs.
    case concat
    case affine(ChannelAffine)
    case positionNorm(PositionNorm)
    case logit(LogitLayer)

    /// Short human-readable kind, as `bcos info` prints it.
    public var kind: String {
        switch self {
        case .input: "input"
        case .bcosConv(let c):
            "BcosConv2d \(c.conv.kernelH)x\(c.conv.kernelW)/\(c.conv.stride) B=\(c.b)"
                + (c.maxOut > 1 ? " M=\(c.maxOut)" : "") + (c.conv.groups > 1 ? " groups=\(c.conv.groups)" : "")
                + (c.scale != 1 ? " scale=\(c.scale)" : "")
        case .avgPool(let p): "AvgPool \(p.kernel)x\(p.kernel)/\(p.stride)"
        case .globalAvgPool: "GlobalAvgPool"
        case .add: "Add"
        case .concat: "Concat"
        case .affine(let a): a.isLayerScale ? "LayerScale" : "BatchNormUncentered (eval)"
        case .positionNorm: "PositionNorm"
        case .logit(let l): "Logit T=\(l.temperature) bias=\(l.bias)"
        }
    }
}

/// A named node of a network graph; `inputs` index earlier nodes.
public struct Node: Sendable {
    /// The name a user types (`5`, `layer2.0.conv1`, ...): the official state-dict prefix where there is one.
    public var name: String
    public var op: Op
    public var inputs: [Int]

    public init(name: String, op: Op, inputs: [Int]) {
        self.name = name
        self.op = op
        self.inputs = inputs
    }
}

/// Per-node state kept by a recorded forward pass.
public enum LayerCache: Sendable {
    case none
    case bcos(BcosConvCache)
    /// A position norm's per-pixel standard deviation.
    case norm([Float])
}

/// Everything a forward pass produced: each node's output and, when recorded, what the backward needs.
public struct Trace: Sendable {
    /// Output of every node (`nil` once released by a non-recording pass). Index = node index.
    public var outputs: [Tensor?]
    public var caches: [LayerCache]

    /// The network output (the last node).
    public var output: Tensor { outputs[outputs.count - 1]! }
}

/// A B-cos network as a graph of named nodes in topological order; node 0 is the input.
///
/// Forward runs the nodes in order; the explanation backward runs them in reverse, each layer's
/// forward/backward pair living next to each other in its own file.
public struct Network: Sendable {
    public private(set) var nodes: [Node]
    /// Index of the last node that reads each node's output.
    let lastUse: [Int]

    public init(nodes: [Node]) {
        precondition(!nodes.isEmpty, "empty network")
        if case .input = nodes[0].op {} else { preconditionFailure("node 0 must be the input") }
        for (i, node) in nodes.enumerated() {
            precondition(node.inputs.allSatisfy { $0 < i && $0 >= 0 }, "node \(node.name) reads a later node")
        }
        self.nodes = nodes
        var last = [Int](repeating: 0, count: nodes.count)
        for (i, node) in nodes.enumerated() { for j in node.inputs { last[j] = max(last[j], i) } }
        last[nodes.count - 1] = nodes.count
        self.lastUse = last
    }

    /// Replaces the operation of node `i` (same kind and shapes), e.g. to set new weights.
    public mutating func setOp(_ op: Op, at i: Int) { nodes[i].op = op }

    /// Index of the node called `name`, if any.
    public func index(of name: String) -> Int? { nodes.firstIndex { $0.name == name } }

    /// Runs the network on `x` `[N, C, H, W]`.
    ///
    /// - Parameters:
    ///   - record: what to keep for a backward pass; with `.none` intermediate outputs are released as soon as
    ///     no later node needs them.
    ///   - frozen: a recorded trace whose dynamic factors and MaxOut choices are reused (the linear map W(x)).
    public func forward(_ x: Tensor, record: Recording = .none, frozen: Trace? = nil) -> Trace {
        var outs = [Tensor?](repeating: nil, count: nodes.count)
        var caches = [LayerCache](repeating: .none, count: nodes.count)
        outs[0] = x
        for i in 1..<nodes.count {
            let node = nodes[i]
            let (y, cache) = step(i, node.inputs.map { outs[$0]! }, record: record, frozen: frozen)
            outs[i] = y
            caches[i] = cache
            if record == .none {
                for j in node.inputs where lastUse[j] == i { outs[j] = nil }
            }
        }
        return Trace(outputs: outs, caches: caches)
    }

    /// Runs node `i` on its inputs.
    func step(_ i: Int, _ ins: [Tensor], record: Recording, frozen: Trace?) -> (Tensor, LayerCache) {
        let node = nodes[i]
        switch node.op {
        case .input:
            preconditionFailure("input node inside the graph")
        case .bcosConv(let layer):
            var frozenCache: BcosConvCache?
            if let frozen, case .bcos(let c) = frozen.caches[i] { frozenCache = c }
            let (y, cache) = layer.forward(ins[0], record: record, frozen: frozenCache)
            return (y, cache.map { .bcos($0) } ?? .none)
        case .avgPool(let pool):
            return (pool.forward(ins[0]), .none)
        case .globalAvgPool:
            return (GlobalAvgPool.forward(ins[0]), .none)
        case .add:
            var y = ins[0]
            for t in ins.dropFirst() {
                precondition(t.shape == y.shape, "add of shapes \(y.shape) and \(t.shape) at \(node.name)")
                for k in 0..<y.count { y.data[k] += t.data[k] }
            }
            return (y, .none)
        case .concat:
            return (Concat.forward(ins), .none)
        case .affine(let a):
            return (a.forward(ins[0]), .none)
        case .positionNorm(let pn):
            var fixed: [Float]?
            if let frozen, case .norm(let s) = frozen.caches[i] { fixed = s }
            let (y, std) = pn.forward(ins[0], frozen: fixed)
            return (y, record != .none ? .norm(std) : .none)
        case .logit(let l):
            return (l.forward(ins[0]), .none)
        }
    }

    /// Sets every batch norm's running variance to the (biased) variance of its input over the batch `x`, as one
    /// training-mode pass with momentum 1 would, keeping its weight. Used to give randomly initialised deep
    /// networks activations of a sensible scale (benchmarks, tests); trained checkpoints never need it.
    public mutating func calibrateBatchNorms(_ x: Tensor) {
        var outs = [Tensor?](repeating: nil, count: nodes.count)
        outs[0] = x
        for i in 1..<nodes.count {
            if case .affine(let a) = nodes[i].op, let bn = a.batchNorm {
                let input = outs[nodes[i].inputs[0]]!
                let n = input.shape[0], c = input.shape[1], p = input.count / max(1, n * c)
                var variance = [Float](repeating: 1, count: c)
                for ch in 0..<c {
                    var sum = 0.0, sq = 0.0
                    for img in 0..<n {
                        for j in 0..<p {
                            let v = Double(input.data[(img * c + ch) * p + j])
                            sum += v
                            sq += v * v
                        }
                    }
                    let count = Double(n * p), mean = sum / count
                    variance[ch] = Float(max(0, sq / count - mean * mean))
                }
                nodes[i].op = .affine(ChannelAffine(batchNormWeight: bn.weight, runningVar: variance))
            }
            outs[i] = step(i, nodes[i].inputs.map { outs[$0]! }, record: .none, frozen: nil).0
            for j in nodes[i].inputs where lastUse[j] == i { outs[j] = nil }
        }
    }

    /// Explanation-mode backward from node `from`, seeded with `seed` (same shape as that node's output).
    ///
    /// Every B-cos layer's dynamic factor and MaxOut choice is a constant, so the result is the row(s) of
    /// the input-dependent linear map W(x) selected by `seed`. Returns the gradient at the input `[N, C, H, W]`.
    public func backwardExplain(_ trace: Trace, from: Int, seed: Tensor) -> Tensor {
        backward(trace, from: from, seed: seed, mode: .explanation).input!
    }

    /// Gradients of one backward pass.
    public struct Gradients: Sendable {
        /// Gradient at the network input (explanation and gradient modes).
        public var input: Tensor?
        /// Gradient of each B-cos layer's raw weights, by node index (training only).
        public var weights: [Int: Tensor]
        /// Gradients at the nodes asked for with `keep`, by node index.
        public var nodes: [Int: Tensor]
    }

    /// What a backward pass computes.
    public enum BackwardMode: Sendable, Equatable {
        /// Dynamic scales and MaxOut choices frozen: rows of W(x); input gradient only.
        case explanation
        /// The full gradient (nothing detached) of the weights; no input gradient. Needs a `.training` trace.
        case training
        /// The full gradient at the input, as autograd gives it (for post-hoc methods). Needs a `.training` trace.
        case gradient
    }

    /// Backward from node `from` seeded with `seed`.
    ///
    /// - Parameter keep: nodes whose gradient to return in `nodes` (e.g. the activations GradCAM weighs).
    public func backward(_ trace: Trace, from: Int, seed: Tensor, mode: BackwardMode, keep: Set<Int> = []) -> Gradients {
        let training = mode == .training
        var kept = [Int: Tensor]()
        precondition(trace.outputs[from]?.shape == seed.shape, "seed shape \(seed.shape) does not match node \(from)")
        var grads = [Tensor?](repeating: nil, count: nodes.count)
        var weightGrads = [Int: Tensor]()
        grads[from] = seed
        for i in stride(from: from, to: 0, by: -1) {
            guard let g = grads[i] else { continue }
            grads[i] = nil
            if keep.contains(i) { kept[i] = g }
            let node = nodes[i]
            let inShape = { (k: Int) in trace.outputs[node.inputs[k]]!.shape }
            // Training never needs the gradient at the network input itself.
            let needInput = !training || node.inputs.contains { $0 != 0 }
            var gin: [Tensor]
            switch node.op {
            case .input:
                preconditionFailure("input node inside the graph")
            case .bcosConv(let layer):
                guard case .bcos(let cache) = trace.caches[i] else {
                    preconditionFailure("node \(node.name) has no recorded cache: run forward with record")
                }
                if mode != .explanation {
                    let (gx, gw) = layer.backwardTrain(g, input: trace.outputs[node.inputs[0]]!, cache: cache,
                                                       needInput: needInput, needWeight: training)
                    weightGrads[i] = gw
                    gin = [gx]
                } else {
                    gin = [layer.backwardExplain(g, cache: cache)]
                }
            case .avgPool(let pool):
                let s = inShape(0)
                gin = [pool.backward(g, inputH: s[2], inputW: s[3])]
            case .globalAvgPool:
                let s = inShape(0)
                gin = [GlobalAvgPool.backward(g, inputH: s[2], inputW: s[3])]
            case .add:
                gin = Array(repeating: g, count: node.inputs.count)
            case .concat:
                gin = Concat.backward(g, channels: node.inputs.indices.map { inShape($0)[1] })
            case .affine(let a):
                gin = [a.backward(g)]
            case .positionNorm(let pn):
                guard case .norm(let std) = trace.caches[i] else {
                    preconditionFailure("node \(node.name) has no recorded cache: run forward with record")
                }
                gin = [mode == .explanation ? pn.backwardExplain(g, std: std)
                           : pn.backwardFull(g, input: trace.outputs[node.inputs[0]]!, std: std)]
            case .logit(let l):
                gin = [l.backward(g)]
            }
            guard needInput else { continue }
            for (k, j) in node.inputs.enumerated() {
                if var acc = grads[j] {
                    for e in 0..<acc.count { acc.data[e] += gin[k].data[e] }
                    grads[j] = acc
                } else {
                    grads[j] = gin[k]
                }
            }
        }
        return Gradients(input: training ? nil : grads[0], weights: weightGrads, nodes: kept)
    }

    /// Output shape of every node for an input of shape `[1, C, H, W]`, without running any arithmetic.
    public func shapes(input: [Int]) -> [[Int]] {
        var shapes = [[Int]](repeating: [], count: nodes.count)
        shapes[0] = input
        for i in 1..<nodes.count {
            let node = nodes[i]
            let s = shapes[node.inputs[0]]
            switch node.op {
            case .input: break
            case .bcosConv(let c):
                let (oh, ow) = c.outputSize(s[2], s[3])
                shapes[i] = [s[0], c.outChannels, oh, ow]
            case .avgPool(let p):
                let (oh, ow) = p.outputSize(s[2], s[3])
                shapes[i] = [s[0], s[1], oh, ow]
            case .globalAvgPool:
                shapes[i] = [s[0], s[1]]
            case .add, .affine, .logit, .positionNorm:
                shapes[i] = s
            case .concat:
                shapes[i] = [s[0], node.inputs.map { shapes[$0][1] }.reduce(0, +), s[2], s[3]]
            }
        }
        return shapes
    }

    /// Number of trainable parameters (raw B-cos weights).
    public var parameterCount: Int {
        nodes.reduce(0) { acc, node in
            if case .bcosConv(let c) = node.op { return acc + c.weight.count }
            return acc
        }
    }
}
