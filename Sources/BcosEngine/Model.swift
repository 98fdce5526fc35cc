import Foundation

/// A B-cos model: its configuration, its network and its class names.
public struct BcosModel: Sendable {
    /// The metadata key under which the configuration JSON is stored.
    public static let configKey = "bcos.config"

    public let config: ModelConfig
    public internal(set) var network: Network

    /// Class names, `config.numClasses` of them.
    public var classes: [String] { config.classes }
    /// Constant added to every logit (excluded from completeness sums).
    public var logitBias: Float { Float(config.logitBias) }

    /// Builds a model from a config and a state dict; validates keys, shapes and values.
    ///
    /// - Parameters:
    ///   - weights: tensors by official state-dict key.
    ///   - source: file name used in error messages.
    public init(config: ModelConfig, weights: [String: Tensor], source: String) throws {
        try config.validate("model '\(source)'")
        let expected = Architectures.parameterShapes(config)
        for (key, shape) in expected {
            guard let t = weights[key] else {
                throw BcosError("model '\(source)': missing tensor '\(key)' (shape \(shape)) required by arch \(config.arch)")
            }
            guard t.shape == shape else {
                throw BcosError("model '\(source)': tensor '\(key)' has shape \(t.shape) but the config implies \(shape)")
            }
            guard t.data.allSatisfy(\.isFinite) else {
                throw BcosError("model '\(source)': tensor '\(key)' contains NaN or infinite values")
            }
            if key.hasSuffix(".running_var"), let bad = t.data.firstIndex(where: { $0 < 0 }) {
                throw BcosError("model '\(source)': tensor '\(key)' has a negative variance at channel \(bad)")
            }
            if key.hasSuffix("linear.weight"), let row = BcosConv2d.zeroNormRow(t) {
                throw BcosError("model '\(source)': tensor '\(key)' row \(row) is all zeros; B-cos weights need non-zero norm")
            }
        }
        let known = Set(expected.map(\.key))
        if let extra = weights.keys.sorted().first(where: { !known.contains($0) }) {
            throw BcosError("model '\(source)': unexpected tensor '\(extra)' for arch \(config.arch) with this config")
        }
        self.config = config
        self.network = Architectures.build(config, params: weights)
    }

    /// Loads a model file (safetensors with `bcos.config` metadata).
    public static func load(_ path: String) throws -> BcosModel {
        let contents = try Safetensors.load(path)
        guard let json = contents.metadata[configKey] else {
            throw BcosError("model '\(path)' has no '\(configKey)' metadata; see README 'Model format'")
        }
        let cfg = try ModelConfig.parse(json: json, source: path)
        var weights = [String: Tensor]()
        for (name, t) in contents.tensors { weights[name] = t }
        return try BcosModel(config: cfg, weights: weights, source: path)
    }

    /// A model with PyTorch's default conv initialisation (uniform in ±1/sqrt(fan_in)), seeded.
    public static func random(config: ModelConfig, seed: UInt64) throws -> BcosModel {
        var rng = SplitMix64(seed: seed)
        var weights = [String: Tensor]()
        for (key, shape) in Architectures.parameterShapes(config) {
            guard key.hasSuffix("linear.weight") else {
                weights[key] = Tensor(shape: shape, repeating: 1)  // batch norm: weight 1, running_var 1
                continue
            }
            let fanIn = shape.dropFirst().reduce(1, *)
            let bound = 1 / Float(fanIn).squareRoot()
            let data = (0..<shape.reduce(1, *)).map { _ in (rng.nextFloat() * 2 - 1) * bound }
            weights[key] = Tensor(shape: shape, data: data)
        }
        return try BcosModel(config: config, weights: weights, source: "random init")
    }

    /// Sets the batch norms' running variances from encoded inputs `x` (see `Network.calibrateBatchNorms`).
    public mutating func calibrateBatchNorms(_ x: Tensor) {
        network.calibrateBatchNorms(x)
    }

    /// Raw weights by official state-dict key, in network order.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        let order = Architectures.parameterShapes(config).map(\.key)
        var byName = [String: Tensor]()
        for node in network.nodes {
            switch node.op {
            case .bcosConv(let c): byName["\(node.name).linear.weight"] = c.weight
            case .positionNorm(let pn):
                byName["\(node.name).weight"] = Tensor(shape: [pn.weight.count], data: pn.weight)
            case .affine(let a):
                if a.isLayerScale { byName[node.name] = Tensor(shape: [a.multiplier.count, 1, 1], data: a.multiplier) }
                if let bn = a.batchNorm {
                    byName["\(node.name).weight"] = Tensor(shape: [bn.weight.count], data: bn.weight)
                    byName["\(node.name).running_var"] = Tensor(shape: [bn.runningVar.count], data: bn.runningVar)
                }
            default: break
            }
        }
        return order.compactMap { k in byName[k].map { (k, $0) } }
    }

    /// Writes the model as safetensors with its config in the metadata.
    public func save(to path: String, overwrite: Bool = false) throws {
        try Safetensors.save(stateDict(), metadata: [BcosModel.configKey: config.json()], to: path, overwrite: overwrite)
    }

    /// Encodes planar images `[N, imageChannels, H, W]` with values in [0, 1] as the network input
    /// (`[x, 1 - x]` when the model uses AddInverse).
    public func encode(_ images: Tensor) -> Tensor {
        precondition(images.shape.count == 4 && images.shape[1] == config.imageChannels,
                     "encode expects [N, \(config.imageChannels), H, W], got \(images.shape)")
        guard config.addInverse else { return images }
        let n = images.shape[0], per = images.count / max(1, n)
        var out = Tensor(shape: [n, 2 * config.imageChannels, images.shape[2], images.shape[3]])
        for i in 0..<n {
            for j in 0..<per {
                let v = images.data[i * per + j]
                out.data[i * 2 * per + j] = v
                out.data[i * 2 * per + per + j] = 1 - v
            }
        }
        return out
    }

    /// Memory an explanation of one `height x width` image would hold at its peak (recorded activations, dynamic
    /// factors, MaxOut choices and gradients), in bytes.
    public func explainBytes(height: Int, width: Int) -> Int {
        let shapes = network.shapes(input: [1, config.inputChannels, height, width])
        let activations = shapes.reduce(0) { $0 + $1.reduce(1, *) }
        return activations * 4 * 4
    }

    /// Images per batched inference pass: at most `preferred`, and few enough that the batch's activations stay
    /// within about `budget` bytes (256 CIFAR images, a handful at ImageNet size).
    public func inferenceBatch(height: Int, width: Int, preferred: Int = 256, budget: Int = 768 << 20) -> Int {
        let perImage = max(1, explainBytes(height: height, width: width) / 4)  // every activation once, in float32
        return max(1, min(preferred, budget / perImage))
    }

    /// Checks that an encoded input of `height x width` gives every layer a non-empty output and fits in memory.
    ///
    /// - Parameter what: names the input in the error message (e.g. the image path).
    public func validateInput(height: Int, width: Int, what: String, maxBytes: Int = 8 << 30) throws {
        let shapes = network.shapes(input: [1, config.inputChannels, height, width])
        if let bad = shapes.indices.first(where: { shapes[$0].contains { $0 <= 0 } }) {
            throw BcosError("\(what) is \(width)x\(height), too small for this model: layer '\(network.nodes[bad].name)' "
                            + "would have shape \(shapes[bad]); use a larger image or --resize")
        }
        let bytes = explainBytes(height: height, width: width)
        if bytes > maxBytes {
            throw BcosError("\(what) is \(width)x\(height); explaining it would need about \(bytes >> 30) GiB "
                            + "(limit \(maxBytes >> 30) GiB); use --resize or a smaller image")
        }
    }

    /// Logits `[N, K]` for encoded inputs `[N, C, H, W]`.
    public func logits(_ x: Tensor) -> Tensor { network.forward(x).output }

    /// The logits of `count` inputs, `batch` per forward pass, in order.
    ///
    /// - Parameters:
    ///   - input: the encoded inputs `[n, C, H, W]` of the indices in the range it is given.
    ///   - body: receives each range with its logits `[n, K]`; returns false to stop before the next batch.
    public func logits(count: Int, batch: Int, input: (Range<Int>) -> Tensor,
                       _ body: (Range<Int>, Tensor) throws -> Bool) rethrows {
        var start = 0
        while start < count {
            let range = start..<min(count, start + max(1, batch))
            guard try body(range, logits(input(range))) else { return }
            start = range.upperBound
        }
    }

    /// Throws unless the model takes a dataset's images (`channels x height x width`) and `classes`; a dataset with
    /// other classes fits when each is named after one of the model's (case-insensitive, e.g. `photos/goldfish/`).
    ///
    /// - Returns: the model class of each dataset class when the labels must be renamed, nil when they agree.
    public func fit(classes: [String], channels: Int, height: Int, width: Int, modelPath: String,
                    dataPath: String) throws -> [Int]? {
        var relabel: [Int]?
        if classes.count != config.numClasses || classes != self.classes {
            let lookup = Dictionary(self.classes.enumerated().map { ($0.element.lowercased(), $0.offset) },
                                    uniquingKeysWith: { a, _ in a })
            let mapped = classes.map { lookup[$0.lowercased()] }
            if mapped.allSatisfy({ $0 != nil }) {
                relabel = mapped.map { $0! }
            } else if classes.count != config.numClasses {
                let missing = classes[mapped.firstIndex { $0 == nil }!]
                throw BcosError("dataset '\(dataPath)' has \(classes.count) classes but model '\(modelPath)' has "
                                + "\(config.numClasses); name each class folder after one of the model's classes "
                                + "('\(missing)' is not one, e.g. \(self.classes.prefix(3).map { "'\($0)'" }.joined(separator: ", ")))")
            }
        }
        guard channels == config.imageChannels else {
            throw BcosError("dataset '\(dataPath)' has \(channels)-channel images but model '\(modelPath)' takes "
                            + "\(config.imageChannels)")
        }
        try validateInput(height: height, width: width, what: "dataset '\(dataPath)' images")
        return relabel
    }

    /// Whether the model takes a dataset's images with their labels as they are (`fit` without renaming).
    public func fits(classes: [String], channels: Int, height: Int, width: Int) -> Bool {
        do {
            _ = try fit(classes: classes, channels: channels, height: height, width: width, modelPath: "", dataPath: "")
            return classes.count == config.numClasses
        } catch {
            return false
        }
    }

    /// The node index of a layer a user named: its name (`5`, `logits`) or its position in `bcos info`.
    public func layerIndex(_ name: String) throws -> Int {
        if let i = network.index(of: name), i > 0 { return i }
        let trimmed = name.hasSuffix(".linear") ? String(name.dropLast(7)) : name
        if let i = network.index(of: trimmed), i > 0 { return i }
        let names = network.nodes.dropFirst().map(\.name)
        let shown = names.count > 12 ? names.prefix(12).joined(separator: ", ") + ", ..." : names.joined(separator: ", ")
        throw BcosError("unknown layer '\(name)'; layers are: \(shown) (see `bcos info`)")
    }

    /// The node of a layer given by name (as `layerIndex`) or as `#N`, its node number in `bcos info`
    /// (`#1` is the first layer).
    public func nodeIndex(_ text: String) throws -> Int {
        if network.index(of: text) == nil, let n = Self.paperIndex(text) {
            let convs = convNodes
            guard n >= 1 && n <= convs.count else {
                throw BcosError("layer \(n) is out of range; this model has B-cos layers 1...\(convs.count) (see `bcos info`)")
            }
            return convs[n - 1]
        }
        guard text.hasPrefix("#") else { return try layerIndex(text) }
        guard let i = Int(text.dropFirst()) else {
            throw BcosError("layer '\(text)' is not a node number; write #N with N from `bcos info`, or a layer name")
        }
        guard i >= 1 && i < network.nodes.count else {
            throw BcosError("layer number \(i) is out of range; this model has layers #1...#\(network.nodes.count - 1) (see `bcos info`)")
        }
        return i
    }

    /// The nodes of the B-cos layers in network order: the paper counts layers this way ("layer 87" of
    /// DenseNet-121 is `convNodes[86]`).
    public var convNodes: [Int] {
        network.nodes.indices.filter { if case .bcosConv = network.nodes[$0].op { return true } else { return false } }
    }

    /// For every node, the paper's running index of its B-cos layer (1 for the first; "L87"), nil for other nodes.
    public var paperIndices: [Int?] {
        var next = 0
        return network.nodes.map { node in
            guard case .bcosConv = node.op else { return nil }
            next += 1
            return next
        }
    }

    /// `N` from "layer N", "layerN" or "LN" (the paper's running index of B-cos layers), else nil.
    static func paperIndex(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        for prefix in ["layer ", "layer", "L"] where t.hasPrefix(prefix) {
            if let n = Int(t.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)) { return n }
        }
        return nil
    }

    /// The class index for a name or number typed by a user.
    public func classIndex(_ s: String) throws -> Int {
        if let i = classes.firstIndex(where: { $0.caseInsensitiveCompare(s) == .orderedSame }) { return i }
        if let i = Int(s) {
            guard i >= 0 && i < config.numClasses else {
                throw BcosError("class index \(i) is out of range; this model has classes 0...\(config.numClasses - 1)")
            }
            return i
        }
        let shown = classes.prefix(10).joined(separator: ", ") + (classes.count > 10 ? ", ..." : "")
        throw BcosError("unknown class '\(s)'; classes are: \(shown)")
    }
}

/// sigmoid(v): a class's probability from its logit (B-cos models are trained with BCE).
public func sigmoid(_ v: Float) -> Float { 1 / (1 + expf(-v)) }

/// A small, fast, seedable generator (SplitMix64) so that initialisations are reproducible everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
