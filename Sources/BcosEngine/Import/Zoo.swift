import Foundation

/// The official B-cos ImageNet models by name: the v2 model zoo (`bcos.models.pretrained`) and the v1 paper's four
/// networks, each as the `ModelConfig` its checkpoint needs.
public enum Zoo {
    /// v2 logit bias `-log(999)`; v1 `log(0.01 / 0.99)`.
    static let v2Bias = -Foundation.log(999.0)
    static let v1Bias = Foundation.log(0.01 / 0.99)
    static let vgg11: [Int] = [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0]

    /// Every name `bcos import --arch` accepts, v2 first.
    public static let names: [String] = [
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "densenet121", "densenet161",
        "densenet169", "densenet201", "vgg11_bnu", "resnet50_long", "resnet152_long", "densenet121_long",
        "convnext_tiny", "convnext_base", "convnext_tiny_bnu", "convnext_base_bnu",
        "v1_vgg11", "v1_resnet34", "v1_densenet121", "v1_inception_v3",
    ]

    /// The configuration of zoo model `name` for `numClasses` classes (ImageNet class names when 1000).
    public static func config(_ name: String, numClasses: Int = 1000) throws -> ModelConfig {
        var c = ModelConfig(arch: "v2_resnet", numClasses: numClasses, imageSize: [224, 224], b: 2, maxOut: 1,
                            logitTemperature: 1, logitBias: v2Bias,
                            classes: numClasses == 1000 ? ImageNetClasses.names : nil)
        c.resize = 256
        let base = name.hasSuffix("_long") ? String(name.dropLast(5)) : name
        if name.hasSuffix("_long") { c.resize = 232 }
        func resnet(_ block: String, _ layers: [Int], groups: Int = 1, width: Int = 64) {
            c.block = block
            c.layers = layers
            c.groups = groups
            c.widthPerGroup = width
        }
        func densenet(_ k: Int, _ blocks: [Int], _ f0: Int) {
            c.arch = c.arch.hasPrefix("v1") ? "v1_densenet" : "v2_densenet"
            c.growthRate = k
            c.blockConfig = blocks
            c.numInitFeatures = f0
        }
        func v1(_ arch: String, scaleFactor: Double, temperature: Double) {
            c.arch = arch
            c.maxOut = 2
            c.scaleFactor = scaleFactor
            c.logitTemperature = temperature
            c.logitBias = v1Bias
        }
        switch base {
        case "resnet18": resnet("basic", [2, 2, 2, 2])
        case "resnet34": resnet("basic", [3, 4, 6, 3])
        case "resnet50": resnet("bottleneck", [3, 4, 6, 3])
        case "resnet101": resnet("bottleneck", [3, 4, 23, 3])
        case "resnet152": resnet("bottleneck", [3, 8, 36, 3])
        case "resnext50_32x4d": resnet("bottleneck", [3, 4, 6, 3], groups: 32, width: 4)
        case "densenet121": densenet(32, [6, 12, 24, 16], 64)
        case "densenet161": densenet(48, [6, 12, 36, 24], 96)
        case "densenet169": densenet(32, [6, 12, 32, 32], 64)
        case "densenet201": densenet(32, [6, 12, 48, 32], 64)
        case "convnext_tiny", "convnext_base", "convnext_tiny_bnu", "convnext_base_bnu":
            // bcos_final_long models: evaluated at 232 -> 224.
            c.arch = "v2_convnext"
            c.resize = 232
            c.depths = base.hasPrefix("convnext_tiny") ? [3, 3, 9, 3] : [3, 3, 27, 3]
            c.dims = base.hasPrefix("convnext_tiny") ? [96, 192, 384, 768] : [128, 256, 512, 1024]
            c.norm = base.hasSuffix("_bnu") ? "batchnorm" : "position"
        case "vgg11_bnu":
            c.arch = "v2_vgg"
            c.features = vgg11
            c.classifier = [4096, 4096]
        case "v1_vgg11":
            v1("v1_vgg", scaleFactor: 1000, temperature: 0.1)
            c.features = vgg11
            c.classifier = [4096, 4096]
        case "v1_resnet34":
            v1("v1_resnet", scaleFactor: 100, temperature: 10)
            resnet("basic", [3, 4, 6, 3])
        case "v1_densenet121":
            v1("v1_densenet", scaleFactor: 100, temperature: 1e-3)
            densenet(32, [6, 12, 24, 16], 64)
        case "v1_inception_v3":
            v1("v1_inception_v3", scaleFactor: 200, temperature: 1)
            c.imageSize = [299, 299]
            c.resize = 320
        default:
            throw BcosError("unknown --arch '\(name)'; known: \(names.joined(separator: ", ")) (or --config FILE)")
        }
        if name.hasSuffix("_long") && !["resnet50", "resnet152", "densenet121"].contains(base) {
            throw BcosError("unknown --arch '\(name)'; the _long models are resnet50_long, resnet152_long, densenet121_long")
        }
        return c
    }

    /// Matches checkpoint tensors to the tensors `cfg` needs. Unused official tensors (batch norm running means,
    /// Inception's training-only auxiliary head, a `module.` prefix from DataParallel) are dropped; anything else
    /// that does not fit names the first missing, unexpected or mis-shaped key.
    ///
    /// - Returns: the weights by key, and the keys dropped.
    public static func match(_ tensors: [(name: String, tensor: Tensor)], skipped: [String], config cfg: ModelConfig,
                             source: String) throws -> (weights: [String: Tensor], dropped: [String]) {
        var items = tensors
        if !items.isEmpty && items.allSatisfy({ $0.name.hasPrefix("module.") }) {
            items = items.map { (String($0.name.dropFirst(7)), $0.tensor) }
        }
        let expected = Architectures.parameterShapes(cfg)
        let ignored = Architectures.ignoredKeys(cfg)
        var byKey = [String: Tensor]()
        var dropped = [String]()
        let wanted = Set(expected.map(\.key))
        for (name, t) in items {
            if wanted.contains(name) {
                byKey[name] = t
            } else if ignored.contains(name) || (cfg.arch == "v1_inception_v3" && name.hasPrefix("0.AuxLogits.")) {
                dropped.append(name)
            } else {
                throw BcosError("\(source) does not match --arch \(describe(cfg)): unexpected key '\(name)' "
                                + "(shape \(t.shape)); is it another architecture?")
            }
        }
        for name in skipped where !name.hasSuffix("num_batches_tracked") && wanted.contains(name) {
            throw BcosError("\(source): tensor '\(name)' is not a float tensor")
        }
        for (key, shape) in expected {
            guard let t = byKey[key] else {
                throw BcosError("\(source) does not match --arch \(describe(cfg)): missing key '\(key)' (shape \(shape))")
            }
            guard t.shape == shape else {
                throw BcosError("\(source) does not match --arch \(describe(cfg)): key '\(key)' has shape \(t.shape), "
                                + "expected \(shape)")
            }
        }
        return (byKey, dropped + skipped)
    }

    static func describe(_ cfg: ModelConfig) -> String {
        "\(cfg.arch) (\(cfg.numClasses) classes)"
    }
}
