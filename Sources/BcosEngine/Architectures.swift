import Foundation

/// One node of an architecture before weights are attached: what `Architectures.layout` describes.
enum LayerSpec {
    case conv(ConvShape, scale: Double)
    /// v2 uncentred batch norm over `channels` (eval: `x / sqrt(running_var + 1e-5) * weight`).
    case batchNorm(channels: Int)
    /// v2 position norm (centred LayerNorm over the channels of each pixel, eps 1e-6), weight `[channels]`.
    case positionNorm(channels: Int)
    /// ConvNeXt's learnt per-channel scale of a block's output; its tensor is the node's own name, `[C, 1, 1]`.
    case layerScale(channels: Int)
    case avgPool(AvgPool2d)
    case add
    case concat
    case globalAvgPool
    case logit
}

/// Builds networks from a `ModelConfig`: the parameter list it needs (official state-dict keys and shapes)
/// and the graph. Node names are the official module prefixes (`layer1.0.conv1`, `features.denseblock2`), so a
/// layer and its weights share one name.
public enum Architectures {
    /// The graph as a list of `(name, spec, inputs)`, node 0 being the input.
    struct Layout {
        var nodes: [(name: String, spec: LayerSpec?, inputs: [Int])] = [("input", nil, [])]
        /// Output channels of every node.
        var channels: [Int]
        let cfg: ModelConfig

        init(_ cfg: ModelConfig) {
            self.cfg = cfg
            channels = [cfg.inputChannels]
        }

        /// Adds a node and returns its index.
        mutating func add(_ name: String, _ spec: LayerSpec, _ inputs: [Int], channels c: Int) -> Int {
            nodes.append((name, spec, inputs))
            channels.append(c)
            return nodes.count - 1
        }

        /// A B-cos conv reading node `x`; v1 layers divide by `k_eff * sqrt(C_in) / scale_factor`.
        mutating func conv(_ name: String, _ x: Int, out: Int, kernel: (Int, Int), stride: Int = 1,
                           padding: (Int, Int) = (0, 0), groups: Int = 1) -> Int {
            let cin = channels[x]
            let shape = ConvShape(inChannels: cin, outChannels: out * cfg.maxOut, kernelH: kernel.0, kernelW: kernel.1,
                                  stride: stride, paddingH: padding.0, paddingW: padding.1, groups: groups)
            let kEff = kernel.0 == kernel.1 ? Double(kernel.0) : (Double(kernel.0 * kernel.1)).squareRoot()
            let scale = cfg.scaleFactor.map { kEff * Double(cin).squareRoot() / $0 } ?? cfg.scale
            return add(name, .conv(shape, scale: scale), [x], channels: out)
        }

        mutating func conv(_ name: String, _ x: Int, out: Int, k: Int, stride: Int = 1, pad: Int = 0, groups: Int = 1) -> Int {
            conv(name, x, out: out, kernel: (k, k), stride: stride, padding: (pad, pad), groups: groups)
        }

        /// v2's batch norm after a conv; nothing for v1 nets, which have none.
        mutating func norm(_ name: String, _ x: Int) -> Int {
            cfg.hasBatchNorm ? add(name, .batchNorm(channels: channels[x]), [x], channels: channels[x]) : x
        }

        mutating func avgPool(_ name: String, _ x: Int, k: Int, stride: Int, pad: Int = 0) -> Int {
            add(name, .avgPool(AvgPool2d(kernel: k, stride: stride, padding: pad)), [x], channels: channels[x])
        }

        mutating func concat(_ name: String, _ xs: [Int]) -> Int {
            xs.count == 1 ? xs[0] : add(name, .concat, xs, channels: xs.map { channels[$0] }.reduce(0, +))
        }

        /// The head shared by every architecture: classifier output -> spatial mean -> logit layer.
        mutating func head(_ x: Int, pool: String = "pool") {
            let p = add(pool, .globalAvgPool, [x], channels: channels[x])
            _ = add("logits", .logit, [p], channels: channels[x])
        }
    }

    static func layout(_ cfg: ModelConfig) -> Layout {
        var l = Layout(cfg)
        switch cfg.arch {
        case "v1_resnet", "v2_resnet": resnet(&l)
        case "v1_densenet", "v2_densenet": densenet(&l)
        case "v1_vgg", "v2_vgg": vgg(&l)
        case "v1_inception_v3": inception(&l)
        case "v2_convnext": convnext(&l)
        default: nineLayer(&l)
        }
        return l
    }

    /// The v1 CIFAR-10 net: B-cos convs 0...L, global mean pool, logit layer.
    static func nineLayer(_ l: inout Layout) {
        let cfg = l.cfg
        var x = 0
        for (i, out) in (cfg.widths + [cfg.numClasses]).enumerated() {
            let k = cfg.kernelSizes[i]
            x = l.conv("\(i)", x, out: out, k: k, stride: cfg.strides[i], pad: cfg.paddings[i])
        }
        l.head(x)
    }

    /// ResNet / ResNeXt (v2 with uncentred batch norm after every conv; v1 without norms, keys under `0.`).
    static func resnet(_ l: inout Layout) {
        let cfg = l.cfg, v1 = cfg.arch.hasPrefix("v1"), p = v1 ? "0." : "", bottleneck = cfg.block == "bottleneck"
        let expansion = bottleneck ? 4 : 1
        var x = l.conv(p + "conv1", 0, out: cfg.inplanes, k: 7, stride: 2, pad: 3)
        x = l.norm(p + "bn1", x)
        x = l.avgPool(p + (v1 ? "avgpool" : "pool"), x, k: 3, stride: 2, pad: 1)
        for (s, blocks) in cfg.layers.enumerated() {
            let planes = cfg.inplanes << s
            for i in 0..<blocks {
                let name = "\(p)layer\(s + 1).\(i)", stride = (i == 0 && s > 0) ? 2 : 1
                let input = x, inC = l.channels[x]
                var y: Int
                if bottleneck {
                    let width = planes * cfg.widthPerGroup / 64 * cfg.groups
                    y = l.norm(name + ".bn1", l.conv(name + ".conv1", input, out: width, k: 1))
                    y = l.norm(name + ".bn2", l.conv(name + ".conv2", y, out: width, k: 3, stride: stride, pad: 1,
                                                     groups: cfg.groups))
                    y = l.norm(name + ".bn3", l.conv(name + ".conv3", y, out: planes * expansion, k: 1))
                } else {
                    y = l.norm(name + ".bn1", l.conv(name + ".conv1", input, out: planes, k: 3, stride: stride, pad: 1))
                    y = l.norm(name + ".bn2", l.conv(name + ".conv2", y, out: planes, k: 3, pad: 1))
                }
                var shortcut = input
                if stride != 1 || inC != planes * expansion {
                    shortcut = l.conv(name + ".downsample.0", input, out: planes * expansion, k: 1, stride: stride)
                    shortcut = l.norm(name + ".downsample.1", shortcut)
                }
                x = l.add(name, .add, [y, shortcut], channels: planes * expansion)
            }
        }
        x = l.conv(p + "fc", x, out: cfg.numClasses, k: 1)
        l.head(x)
    }

    /// DenseNet: dense layers see the concatenation of everything before them in their block.
    static func densenet(_ l: inout Layout) {
        let cfg = l.cfg, v1 = cfg.arch.hasPrefix("v1"), p = v1 ? "0.features." : "features."
        var x = l.conv(p + "conv0", 0, out: cfg.numInitFeatures, k: 7, stride: 2, pad: 3)
        x = l.norm(p + "norm0", x)
        x = l.avgPool(p + "pool0", x, k: 3, stride: 2, pad: 1)
        for (b, count) in cfg.blockConfig.enumerated() {
            let block = "\(p)denseblock\(b + 1)"
            var parts = [x]
            for i in 1...count {
                let name = "\(block).denselayer\(i)"
                let input = l.concat(name + ".input", parts)
                var y = l.norm(name + ".norm1", input)
                y = l.conv(name + ".conv1", y, out: cfg.bnSize * cfg.growthRate, k: 1)
                y = l.norm(name + ".norm2", y)
                y = l.conv(name + ".conv2", y, out: cfg.growthRate, k: 3, pad: 1)
                parts.append(y)
            }
            x = l.concat(block, parts)
            if b < cfg.blockConfig.count - 1 {
                let t = "\(p)transition\(b + 1)"
                x = l.norm(t + ".norm", x)
                x = l.conv(t + ".conv", x, out: l.channels[x] / 2, k: 1)
                x = l.avgPool(t + ".pool", x, k: 2, stride: 2)
            }
        }
        x = l.norm(p + "norm5", x)
        x = l.conv((v1 ? "0." : "") + "classifier", x, out: cfg.numClasses, k: 1)
        l.head(x)
    }

    /// VGG: 3x3 convs (v2: each followed by its batch norm) and 2x2 average pools, then a 7x7 and 1x1 conv head.
    static func vgg(_ l: inout Layout) {
        let cfg = l.cfg, p = cfg.arch.hasPrefix("v1") ? "0." : ""
        var x = 0, index = 0
        for width in cfg.features {
            if width == 0 {
                x = l.avgPool("\(p)features.\(index)", x, k: 2, stride: 2)
                index += 1
            } else {
                x = l.conv("\(p)features.\(index)", x, out: width, k: 3, pad: 1)
                index += 1
                if cfg.hasBatchNorm {
                    x = l.norm("\(p)features.\(index)", x)
                    index += 1
                }
            }
        }
        for (i, width) in (cfg.classifier + [cfg.numClasses]).enumerated() {
            x = l.conv("\(p)classifier.\(i)", x, out: width, k: i == 0 ? 7 : 1, pad: i == 0 ? 3 : 0)
        }
        l.head(x)
    }

    /// v1 Inception-v3 (299 px): every conv a B-cos conv with MaxOut; pools are average pools; branches
    /// concatenated in the official order. The auxiliary head only runs in training and is not built.
    static func inception(_ l: inout Layout) {
        func c(_ name: String, _ x: Int, _ out: Int, _ k: (Int, Int), stride: Int = 1, pad: (Int, Int) = (0, 0)) -> Int {
            l.conv("0.\(name).conv", x, out: out, kernel: k, stride: stride, padding: pad)
        }
        var x = c("Conv2d_1a_3x3", 0, 32, (3, 3), stride: 2)
        x = c("Conv2d_2a_3x3", x, 32, (3, 3))
        x = c("Conv2d_2b_3x3", x, 64, (3, 3), pad: (1, 1))
        x = l.avgPool("0.avgpool1", x, k: 3, stride: 2)
        x = c("Conv2d_3b_1x1", x, 80, (1, 1))
        x = c("Conv2d_4a_3x3", x, 192, (3, 3))
        x = l.avgPool("0.avgpool2", x, k: 3, stride: 2)
        func blockA(_ n: String, _ x: Int, pool: Int) -> Int {
            let b1 = c("\(n).branch1x1", x, 64, (1, 1))
            let b5 = c("\(n).branch5x5_2", c("\(n).branch5x5_1", x, 48, (1, 1)), 64, (5, 5), pad: (2, 2))
            var d = c("\(n).branch3x3dbl_1", x, 64, (1, 1))
            d = c("\(n).branch3x3dbl_2", d, 96, (3, 3), pad: (1, 1))
            d = c("\(n).branch3x3dbl_3", d, 96, (3, 3), pad: (1, 1))
            let bp = c("\(n).branch_pool", l.avgPool("0.\(n).pool", x, k: 3, stride: 1, pad: 1), pool, (1, 1))
            return l.concat("0.\(n)", [b1, b5, d, bp])
        }
        x = blockA("Mixed_5b", x, pool: 32)
        x = blockA("Mixed_5c", x, pool: 64)
        x = blockA("Mixed_5d", x, pool: 64)
        do {  // Mixed_6a
            let n = "Mixed_6a"
            let b3 = c("\(n).branch3x3", x, 384, (3, 3), stride: 2)
            var d = c("\(n).branch3x3dbl_1", x, 64, (1, 1))
            d = c("\(n).branch3x3dbl_2", d, 96, (3, 3), pad: (1, 1))
            d = c("\(n).branch3x3dbl_3", d, 96, (3, 3), stride: 2)
            x = l.concat("0.\(n)", [b3, d, l.avgPool("0.\(n).pool", x, k: 3, stride: 2)])
        }
        func blockC(_ n: String, _ x: Int, c7: Int) -> Int {
            let b1 = c("\(n).branch1x1", x, 192, (1, 1))
            var b7 = c("\(n).branch7x7_1", x, c7, (1, 1))
            b7 = c("\(n).branch7x7_2", b7, c7, (1, 7), pad: (0, 3))
            b7 = c("\(n).branch7x7_3", b7, 192, (7, 1), pad: (3, 0))
            var d = c("\(n).branch7x7dbl_1", x, c7, (1, 1))
            d = c("\(n).branch7x7dbl_2", d, c7, (7, 1), pad: (3, 0))
            d = c("\(n).branch7x7dbl_3", d, c7, (1, 7), pad: (0, 3))
            d = c("\(n).branch7x7dbl_4", d, c7, (7, 1), pad: (3, 0))
            d = c("\(n).branch7x7dbl_5", d, 192, (1, 7), pad: (0, 3))
            let bp = c("\(n).branch_pool", l.avgPool("0.\(n).pool", x, k: 3, stride: 1, pad: 1), 192, (1, 1))
            return l.concat("0.\(n)", [b1, b7, d, bp])
        }
        x = blockC("Mixed_6b", x, c7: 128)
        x = blockC("Mixed_6c", x, c7: 160)
        x = blockC("Mixed_6d", x, c7: 160)
        x = blockC("Mixed_6e", x, c7: 192)
        do {  // Mixed_7a
            let n = "Mixed_7a"
            let b3 = c("\(n).branch3x3_2", c("\(n).branch3x3_1", x, 192, (1, 1)), 320, (3, 3), stride: 2)
            var b7 = c("\(n).branch7x7x3_1", x, 192, (1, 1))
            b7 = c("\(n).branch7x7x3_2", b7, 192, (1, 7), pad: (0, 3))
            b7 = c("\(n).branch7x7x3_3", b7, 192, (7, 1), pad: (3, 0))
            b7 = c("\(n).branch7x7x3_4", b7, 192, (3, 3), stride: 2)
            x = l.concat("0.\(n)", [b3, b7, l.avgPool("0.\(n).pool", x, k: 3, stride: 2)])
        }
        func blockE(_ n: String, _ x: Int) -> Int {
            let b1 = c("\(n).branch1x1", x, 320, (1, 1))
            let t = c("\(n).branch3x3_1", x, 384, (1, 1))
            let b3 = l.concat("0.\(n).branch3x3", [c("\(n).branch3x3_2a", t, 384, (1, 3), pad: (0, 1)),
                                                   c("\(n).branch3x3_2b", t, 384, (3, 1), pad: (1, 0))])
            var d = c("\(n).branch3x3dbl_1", x, 448, (1, 1))
            d = c("\(n).branch3x3dbl_2", d, 384, (3, 3), pad: (1, 1))
            let bd = l.concat("0.\(n).branch3x3dbl", [c("\(n).branch3x3dbl_3a", d, 384, (1, 3), pad: (0, 1)),
                                                      c("\(n).branch3x3dbl_3b", d, 384, (3, 1), pad: (1, 0))])
            let bp = c("\(n).branch_pool", l.avgPool("0.\(n).pool", x, k: 3, stride: 1, pad: 1), 192, (1, 1))
            return l.concat("0.\(n)", [b1, b3, bd, bp])
        }
        x = blockE("Mixed_7b", x)
        x = blockE("Mixed_7c", x)
        x = l.conv("0.fc", x, out: l.cfg.numClasses, kernel: (1, 1))
        l.head(x)
    }

    /// ConvNeXt (v2): 4x4/4 patchify stem, stages of blocks `x + layer_scale · conv1x1(conv1x1(norm(dwconv7x7(x))))`,
    /// 2x2/2 downsampling between stages, then norm and a 1x1 classifier before the pooling head.
    static func convnext(_ l: inout Layout) {
        let cfg = l.cfg
        func norm(_ name: String, _ x: Int) -> Int {
            cfg.norm == "batchnorm" ? l.add(name, .batchNorm(channels: l.channels[x]), [x], channels: l.channels[x])
                : l.add(name, .positionNorm(channels: l.channels[x]), [x], channels: l.channels[x])
        }
        var x = l.conv("features.0", 0, out: cfg.dims[0], k: 4, stride: 4)
        x = norm("features.1", x)
        var index = 2
        for (s, depth) in cfg.depths.enumerated() {
            let dim = cfg.dims[s]
            for b in 0..<depth {
                let name = "features.\(index).\(b)"
                var y = l.conv(name + ".block.0", x, out: dim, k: 7, pad: 3, groups: dim)
                y = norm(name + ".block.1", y)
                y = l.conv(name + ".block.2", y, out: 4 * dim, k: 1)
                y = l.conv(name + ".block.3", y, out: dim, k: 1)
                y = l.add(name + ".layer_scale", .layerScale(channels: dim), [y], channels: dim)
                x = l.add(name, .add, [y, x], channels: dim)
            }
            index += 1
            if s + 1 < cfg.depths.count {
                x = norm("features.\(index).0", x)
                x = l.conv("features.\(index).1", x, out: cfg.dims[s + 1], k: 2, stride: 2)
                index += 1
            }
        }
        x = norm("classifier.0", x)
        x = l.conv("classifier.1", x, out: cfg.numClasses, k: 1)
        l.head(x)
    }

    /// `(key, shape)` of every tensor the architecture needs, in state-dict order.
    public static func parameterShapes(_ cfg: ModelConfig) -> [(key: String, shape: [Int])] {
        var out = [(key: String, shape: [Int])]()
        for node in layout(cfg).nodes {
            switch node.spec {
            case .conv(let s, _)?: out.append(("\(node.name).linear.weight", s.weightShape))
            case .batchNorm(let c)?:
                out.append(("\(node.name).weight", [c]))
                out.append(("\(node.name).running_var", [c]))
            case .positionNorm(let c)?: out.append(("\(node.name).weight", [c]))
            case .layerScale(let c)?: out.append((node.name, [c, 1, 1]))
            default: break
            }
        }
        return out
    }

    /// The classifier's weight key (the last conv before the pooling head).
    public static func classifierKey(_ cfg: ModelConfig) -> String? {
        parameterShapes(cfg).last { $0.key.hasSuffix(".linear.weight") }?.key
    }

    /// Tensors an official checkpoint holds that the network does not use (v2 batch norm's running mean).
    static func ignoredKeys(_ cfg: ModelConfig) -> Set<String> {
        var out = Set<String>()
        for node in layout(cfg).nodes {
            if case .batchNorm? = node.spec { out.insert("\(node.name).running_mean") }
        }
        return out
    }

    /// The graph for `cfg` with weights from `params` (keys and shapes already validated).
    static func build(_ cfg: ModelConfig, params: [String: Tensor]) -> Network {
        var nodes = [Node]()
        for node in layout(cfg).nodes {
            let op: Op
            switch node.spec {
            case nil: op = .input
            case .conv(let s, let scale)?:
                op = .bcosConv(BcosConv2d(shape: s, maxOut: cfg.maxOut, b: Float(cfg.b), scale: Float(scale),
                                          weight: params["\(node.name).linear.weight"]!))
            case .batchNorm?:
                op = .affine(ChannelAffine(batchNormWeight: params["\(node.name).weight"]!.data,
                                           runningVar: params["\(node.name).running_var"]!.data))
            case .positionNorm?:
                op = .positionNorm(PositionNorm(weight: params["\(node.name).weight"]!.data, eps: 1e-6))
            case .layerScale?: op = .affine(ChannelAffine(layerScale: params[node.name]!.data))
            case .avgPool(let p)?: op = .avgPool(p)
            case .add?: op = .add
            case .concat?: op = .concat
            case .globalAvgPool?: op = .globalAvgPool
            case .logit?: op = .logit(LogitLayer(temperature: Float(cfg.logitTemperature), bias: Float(cfg.logitBias)))
            }
            nodes.append(Node(name: node.name, op: op, inputs: node.inputs))
        }
        return Network(nodes: nodes)
    }
}
