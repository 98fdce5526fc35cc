/// Builds networks from a `ModelConfig`: the parameter list it needs (official state-dict keys and shapes)
/// and the graph.
enum Architectures {
    /// `(key, shape)` of every tensor the architecture needs, in state-dict order.
    static func parameterShapes(_ cfg: ModelConfig) -> [(key: String, shape: [Int])] {
        switch cfg.arch {
        default: // v1_9layer
            var shapes = [(key: String, shape: [Int])]()
            var inC = cfg.inputChannels
            for (i, out) in (cfg.widths + [cfg.numClasses]).enumerated() {
                let k = cfg.kernelSizes[i]
                shapes.append(("\(i).linear.weight", [out * cfg.maxOut, inC, k, k]))
                inC = out
            }
            return shapes
        }
    }

    /// The graph for `cfg` with weights from `params` (keys and shapes already validated).
    static func build(_ cfg: ModelConfig, params: [String: Tensor]) -> Network {
        switch cfg.arch {
        default: // v1_9layer: B-cos convs 0...L, global mean pool, logit layer.
            var nodes = [Node(name: "input", op: .input, inputs: [])]
            var inC = cfg.inputChannels
            for (i, out) in (cfg.widths + [cfg.numClasses]).enumerated() {
                let k = cfg.kernelSizes[i]
                let scale = cfg.scaleFactor.map { Double(k) * Double(inC).squareRoot() / $0 } ?? cfg.scale
                let layer = BcosConv2d(inChannels: inC, outChannels: out, kernel: k, stride: cfg.strides[i],
                                       padding: cfg.paddings[i], maxOut: cfg.maxOut, b: Float(cfg.b),
                                       scale: Float(scale), weight: params["\(i).linear.weight"]!)
                nodes.append(Node(name: "\(i)", op: .bcosConv(layer), inputs: [nodes.count - 1]))
                inC = out
            }
            nodes.append(Node(name: "pool", op: .globalAvgPool, inputs: [nodes.count - 1]))
            nodes.append(Node(name: "logits", op: .logit(LogitLayer(temperature: Float(cfg.logitTemperature),
                                                                    bias: Float(cfg.logitBias))),
                              inputs: [nodes.count - 1]))
            return Network(nodes: nodes)
        }
    }
}
