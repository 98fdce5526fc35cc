import Foundation

/// The architecture description stored as JSON under `bcos.config` in a model file's metadata.
///
/// Every key is documented in the README ("Model format"). Unknown keys are refused so that a typo
/// cannot silently give a different network.
public struct ModelConfig: Sendable, Equatable {
    /// Architecture name; `v1_9layer` is the CIFAR-10 network of the v1 paper.
    public var arch: String
    public var numClasses: Int
    /// Image channels before encoding: 3 (RGB) or 1 (grayscale).
    public var imageChannels: Int
    /// Encode `x` as `[x, 1 - x]` (AddInverse), doubling the channels.
    public var addInverse: Bool
    /// Image size the model was trained on, `[H, W]`.
    public var imageSize: [Int]
    /// Output channels of the hidden B-cos convolutions (the classifier has `numClasses`).
    public var widths: [Int]
    public var kernelSizes: [Int]
    public var strides: [Int]
    public var paddings: [Int]
    public var b: Double
    public var maxOut: Int
    /// v1 fixed output divisor for every layer (1 = none); see also `scaleFactor`.
    public var scale: Double
    /// v1 per-layer divisor `k * sqrt(C_in) / scaleFactor` instead of a fixed `scale`.
    public var scaleFactor: Double?
    public var logitTemperature: Double
    public var logitBias: Double
    public var classes: [String]
    /// Evaluation preprocessing: resize the shorter side to this, then centre-crop `imageSize` (ImageNet models:
    /// 256, Inception 320); nil for none.
    public var resize: Int?

    // ResNet families (`v1_resnet`, `v2_resnet`).
    /// "basic" or "bottleneck".
    public var block = "basic"
    /// Blocks per stage (1 to 4 stages).
    public var layers: [Int] = []
    /// Channels of the stem and of the first stage (stage s has `inplanes * 2^s` planes).
    public var inplanes = 64
    public var groups = 1
    public var widthPerGroup = 64

    // DenseNet families.
    public var growthRate = 32
    public var blockConfig: [Int] = []
    public var numInitFeatures = 64
    public var bnSize = 4

    // ConvNeXt: blocks and channels per stage, and the norm ("position": centred channel LayerNorm; "batchnorm").
    public var depths: [Int] = []
    public var dims: [Int] = []
    public var norm = "position"

    // VGG families: 3x3 conv widths, with 0 for a 2x2 average pool ("M" in JSON); classifier hidden widths.
    public var features: [Int] = []
    public var classifier: [Int] = []

    /// Channels of the encoded network input.
    public var inputChannels: Int { imageChannels * (addInverse ? 2 : 1) }

    public static let supportedArchs = ["v1_9layer", "v1_resnet", "v1_densenet", "v1_vgg", "v1_inception_v3",
                                        "v2_resnet", "v2_densenet", "v2_vgg", "v2_convnext"]
    /// Whether the architecture has v2's uncentred batch norms.
    public var hasBatchNorm: Bool { arch.hasPrefix("v2_") }
    public var isNineLayer: Bool { arch == "v1_9layer" }
    static let archKeys: [String: Set<String>] = [
        "v1_9layer": ["widths", "kernel_sizes", "strides", "paddings"],
        "v1_resnet": ["block", "layers", "inplanes", "groups", "width_per_group"],
        "v2_resnet": ["block", "layers", "inplanes", "groups", "width_per_group"],
        "v1_densenet": ["growth_rate", "block_config", "num_init_features", "bn_size"],
        "v2_densenet": ["growth_rate", "block_config", "num_init_features", "bn_size"],
        "v1_vgg": ["features", "classifier"], "v2_vgg": ["features", "classifier"], "v1_inception_v3": [],
        "v2_convnext": ["depths", "dims", "norm"],
    ]
    /// Largest class count accepted (ImageNet-21k has ~21,000).
    public static let maxClasses = 100_000
    public static let v1Widths = [64, 64, 128, 128, 128, 256, 256, 256]
    public static let v1Kernels = [3, 3, 3, 3, 3, 3, 3, 3, 1]
    public static let v1Strides = [1, 1, 2, 1, 1, 2, 1, 1, 1]
    public static let v1Paddings = [1, 1, 1, 1, 1, 1, 1, 1, 0]
    static let commonKeys: Set<String> = [
        "arch", "num_classes", "image_channels", "add_inverse", "image_size", "b", "max_out", "scale", "scale_factor",
        "logit_temperature", "logit_bias", "classes", "resize",
    ]

    /// A v1 9-layer configuration with the paper's defaults for everything not given.
    public init(arch: String = "v1_9layer", numClasses: Int = 10, imageChannels: Int = 3, addInverse: Bool = true,
                imageSize: [Int] = [32, 32], widths: [Int] = ModelConfig.v1Widths,
                kernelSizes: [Int] = ModelConfig.v1Kernels, strides: [Int] = ModelConfig.v1Strides,
                paddings: [Int] = ModelConfig.v1Paddings, b: Double = 2, maxOut: Int = 2, scale: Double = 1,
                scaleFactor: Double? = nil, logitTemperature: Double = 1, logitBias: Double = 0, classes: [String]? = nil) {
        self.arch = arch
        self.numClasses = numClasses
        self.imageChannels = imageChannels
        self.addInverse = addInverse
        self.imageSize = imageSize
        self.widths = widths
        self.kernelSizes = kernelSizes
        self.strides = strides
        self.paddings = paddings
        self.b = b
        self.maxOut = maxOut
        self.scale = scale
        self.scaleFactor = scaleFactor
        self.logitTemperature = logitTemperature
        self.logitBias = logitBias
        self.classes = classes ?? (0..<numClasses).map(String.init)
    }

    /// Parses and validates the JSON text of `bcos.config`; `source` names the file in error messages.
    public static func parse(json text: String, source: String) throws -> ModelConfig {
        let ctx = "model '\(source)'"
        guard let any = try? JSONSerialization.jsonObject(with: Data(text.utf8)), let obj = any as? [String: Any] else {
            throw BcosError("\(ctx): 'bcos.config' is not a JSON object; see README 'Model format'")
        }
        let archName = obj["arch"] as? String ?? ""
        let known = commonKeys.union(archKeys[archName] ?? [])
        if let unknown = obj.keys.sorted().first(where: { !known.contains($0) }) {
            throw BcosError("\(ctx): unknown config key '\(unknown)' in 'bcos.config'"
                            + (archName.isEmpty ? "" : " for arch \(archName)") + "; see README 'Model format' for the keys")
        }
        func required<T>(_ key: String, _ get: (Any) -> T?) throws -> T {
            guard let v = obj[key] else {
                throw BcosError("\(ctx): config key '\(key)' is missing from 'bcos.config'; see README 'Model format'")
            }
            guard let t = get(v) else { throw BcosError("\(ctx): config key '\(key)' has an invalid value \(v)") }
            return t
        }
        func optional<T>(_ key: String, _ def: T, _ get: (Any) -> T?) throws -> T {
            obj[key] == nil ? def : try required(key, get)
        }
        // JSONSerialization hands back NSNumber for numbers and booleans alike; booleans have objCType "c".
        let isBool: (Any) -> Bool = { v in (v as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false }
        let int: (Any) -> Int? = { v in
            if isBool(v) { return nil }
            if let i = v as? Int { return i }
            if let d = v as? Double, d == d.rounded(), abs(d) < 1e9 { return Int(d) }
            return nil
        }
        let double: (Any) -> Double? = { v in
            if !isBool(v), let d = v as? Double, d.isFinite { return d }
            return nil
        }
        let ints: (Any) -> [Int]? = { v in
            guard let a = v as? [Any] else { return nil }
            let r = a.compactMap(int)
            return r.count == a.count ? r : nil
        }
        let bool: (Any) -> Bool? = { v in isBool(v) ? v as? Bool : nil }

        let arch = try required("arch") { $0 as? String }
        guard supportedArchs.contains(arch) else {
            throw BcosError("\(ctx): unknown arch '\(arch)'; supported: \(supportedArchs.joined(separator: ", "))")
        }
        var cfg = ModelConfig(arch: arch)
        cfg.numClasses = try required("num_classes", int)
        guard (1...maxClasses).contains(cfg.numClasses) else {
            throw BcosError("\(ctx): 'num_classes' must be between 1 and \(maxClasses) (got \(cfg.numClasses)) in 'bcos.config'")
        }
        cfg.b = try required("b", double)
        cfg.maxOut = try required("max_out", int)
        cfg.logitTemperature = try required("logit_temperature", double)
        cfg.logitBias = try required("logit_bias", double)
        cfg.imageChannels = try optional("image_channels", 3, int)
        cfg.addInverse = try optional("add_inverse", true, bool)
        cfg.imageSize = try optional("image_size", arch == "v1_9layer" ? [32, 32] : [224, 224], ints)
        if obj["resize"] != nil { cfg.resize = try required("resize", int) }
        switch arch {
        case "v1_9layer":
            cfg.widths = try optional("widths", v1Widths, ints)
            let defaultsApply = cfg.widths.count == v1Widths.count
            func layerList(_ key: String, _ def: [Int]) throws -> [Int] {
                if obj[key] == nil && !defaultsApply {
                    throw BcosError("\(ctx): config key '\(key)' is required when 'widths' has \(cfg.widths.count) entries")
                }
                return try optional(key, def, ints)
            }
            cfg.kernelSizes = try layerList("kernel_sizes", v1Kernels)
            cfg.strides = try layerList("strides", v1Strides)
            cfg.paddings = try layerList("paddings", v1Paddings)
        case "v1_resnet", "v2_resnet":
            cfg.block = try required("block") { $0 as? String }
            cfg.layers = try required("layers", ints)
            cfg.inplanes = try optional("inplanes", 64, int)
            cfg.groups = try optional("groups", 1, int)
            cfg.widthPerGroup = try optional("width_per_group", 64, int)
        case "v1_densenet", "v2_densenet":
            cfg.growthRate = try required("growth_rate", int)
            cfg.blockConfig = try required("block_config", ints)
            cfg.numInitFeatures = try required("num_init_features", int)
            cfg.bnSize = try optional("bn_size", 4, int)
        case "v1_vgg", "v2_vgg":
            cfg.features = try required("features") { v in
                guard let a = v as? [Any] else { return nil }
                let r = a.compactMap { e -> Int? in (e as? String) == "M" ? 0 : int(e).flatMap { $0 > 0 ? $0 : nil } }
                return r.count == a.count ? r : nil
            }
            cfg.classifier = try required("classifier", ints)
        case "v2_convnext":
            cfg.depths = try required("depths", ints)
            cfg.dims = try required("dims", ints)
            cfg.norm = try optional("norm", "position") { $0 as? String }
        default:
            break
        }
        cfg.scale = try optional("scale", 1, double)
        if obj["scale_factor"] != nil {
            if obj["scale"] != nil {
                throw BcosError("\(ctx): give either 'scale' or 'scale_factor' in 'bcos.config', not both")
            }
            cfg.scaleFactor = try required("scale_factor", double)
        }
        cfg.classes = try optional("classes", (0..<max(0, cfg.numClasses)).map(String.init)) { v in
            guard let a = v as? [Any] else { return nil }
            let s = a.compactMap { $0 as? String }
            return s.count == a.count ? s : nil
        }
        try cfg.validate(ctx)
        return cfg
    }

    /// Checks ranges and consistency; throws a message prefixed with `ctx`.
    public func validate(_ ctx: String) throws {
        func bad(_ m: String) -> BcosError { BcosError("\(ctx): \(m) in 'bcos.config'") }
        guard (1...ModelConfig.maxClasses).contains(numClasses) else {
            throw bad("'num_classes' must be between 1 and \(ModelConfig.maxClasses)")
        }
        for (key, v) in [("b", b), ("logit_temperature", logitTemperature), ("logit_bias", logitBias), ("scale", scale),
                         ("scale_factor", scaleFactor ?? 1)] where !v.isFinite {
            throw bad("'\(key)' must be a finite number (got \(v))")
        }
        guard b > 0 else { throw bad("'b' must be > 0 (got \(b))") }
        guard (1...255).contains(maxOut) else { throw bad("'max_out' must be between 1 and 255 (got \(maxOut))") }
        guard logitTemperature != 0 else { throw bad("'logit_temperature' must not be 0") }
        guard scale != 0, scaleFactor.map({ $0 != 0 }) ?? true else { throw bad("'scale' / 'scale_factor' must not be 0") }
        guard imageChannels == 1 || imageChannels == 3 else { throw bad("'image_channels' must be 1 or 3") }
        guard imageSize.count == 2, imageSize.allSatisfy({ $0 >= 1 && $0 <= 8192 }) else {
            throw bad("'image_size' must be [H, W] with sizes in 1...8192")
        }
        guard !widths.isEmpty, widths.allSatisfy({ $0 >= 1 && $0 <= 65536 }) else {
            throw bad("'widths' must be a non-empty list of positive channel counts")
        }
        if let resize { guard resize >= 1 && resize <= 8192 else { throw bad("'resize' must be in 1...8192") } }
        let positive = { (list: [Int]) in list.allSatisfy { $0 >= 1 && $0 <= 65536 } }
        switch arch {
        case "v1_9layer":
            let layers = widths.count + 1
            for (key, list) in [("kernel_sizes", kernelSizes), ("strides", strides), ("paddings", paddings)] {
                guard list.count == layers else {
                    throw bad("'\(key)' has \(list.count) entries but 'widths' implies \(layers) layers")
                }
            }
            guard kernelSizes.allSatisfy({ $0 >= 1 && $0 <= 64 }), strides.allSatisfy({ $0 >= 1 }),
                  paddings.allSatisfy({ $0 >= 0 }) else {
                throw bad("kernel sizes and strides must be >= 1 and paddings >= 0")
            }
        case "v1_resnet", "v2_resnet":
            guard block == "basic" || block == "bottleneck" else { throw bad("'block' must be \"basic\" or \"bottleneck\"") }
            guard (1...4).contains(layers.count), positive(layers), layers.allSatisfy({ $0 <= 1000 }) else {
                throw bad("'layers' must list 1 to 4 positive block counts")
            }
            guard positive([inplanes, groups, widthPerGroup]) else {
                throw bad("'inplanes', 'groups' and 'width_per_group' must be positive")
            }
            if block == "basic" && (groups != 1 || widthPerGroup != 64) {
                throw bad("basic blocks need groups 1 and width_per_group 64")
            }
            let width = inplanes * widthPerGroup / 64 * groups
            guard width >= groups && width % groups == 0 else {
                throw bad("bottleneck width inplanes*width_per_group/64*groups = \(width) must be a positive multiple of groups")
            }
        case "v1_densenet", "v2_densenet":
            guard !blockConfig.isEmpty, blockConfig.count <= 16, positive(blockConfig), blockConfig.allSatisfy({ $0 <= 1000 }),
                  positive([growthRate, numInitFeatures, bnSize]) else {
                throw bad("'growth_rate', 'block_config' (1 to 16 entries), 'num_init_features' and 'bn_size' must be positive")
            }
        case "v2_convnext":
            guard !depths.isEmpty, depths.count == dims.count, depths.count <= 8, positive(depths), positive(dims),
                  depths.allSatisfy({ $0 <= 1000 }) else {
                throw bad("'depths' and 'dims' must list the same number (1 to 8) of positive block counts and widths")
            }
            guard norm == "position" || norm == "batchnorm" else { throw bad("'norm' must be \"position\" or \"batchnorm\"") }
        case "v1_vgg", "v2_vgg":
            guard features.contains(where: { $0 > 0 }), features.allSatisfy({ $0 >= 0 && $0 <= 65536 }),
                  !classifier.isEmpty, positive(classifier) else {
                throw bad("'features' needs conv widths (and \"M\" pools) and 'classifier' positive widths")
            }
        default:
            break
        }
        if arch.hasPrefix("v1_") && arch != "v1_9layer" && scaleFactor == nil {
            throw bad("arch \(arch) needs 'scale_factor' (v1 divides each layer by k*sqrt(C_in)/scale_factor)")
        }
        guard classes.count == numClasses else {
            throw bad("'classes' has \(classes.count) names but 'num_classes' is \(numClasses)")
        }
    }

    /// The JSON text stored under `bcos.config` (sorted keys).
    public func json() -> String {
        var obj: [String: Any] = [
            "arch": arch, "num_classes": numClasses, "image_channels": imageChannels, "add_inverse": addInverse,
            "image_size": imageSize, "b": b, "max_out": maxOut, "logit_temperature": logitTemperature,
            "logit_bias": logitBias, "classes": classes,
        ]
        if let scaleFactor { obj["scale_factor"] = scaleFactor } else { obj["scale"] = scale }
        if let resize { obj["resize"] = resize }
        switch arch {
        case "v1_9layer":
            obj["widths"] = widths
            obj["kernel_sizes"] = kernelSizes
            obj["strides"] = strides
            obj["paddings"] = paddings
        case "v1_resnet", "v2_resnet":
            obj["block"] = block
            obj["layers"] = layers
            obj["inplanes"] = inplanes
            obj["groups"] = groups
            obj["width_per_group"] = widthPerGroup
        case "v1_densenet", "v2_densenet":
            obj["growth_rate"] = growthRate
            obj["block_config"] = blockConfig
            obj["num_init_features"] = numInitFeatures
            obj["bn_size"] = bnSize
        case "v1_vgg", "v2_vgg":
            obj["features"] = features.map { $0 == 0 ? "M" as Any : $0 as Any }
            obj["classifier"] = classifier
        case "v2_convnext":
            obj["depths"] = depths
            obj["dims"] = dims
            obj["norm"] = norm
        default:
            break
        }
        let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
