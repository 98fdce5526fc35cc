import BcosEngine

/// The attribution methods by the names used on the command line and in tables (BCOS_REFERENCE §7), each with
/// its defaults.
public enum Methods {
    /// Every method name, the inherent B-cos explanation first.
    public static let names = ["bcos", "grad", "ixg", "intgrad", "deeplift", "gradcam", "occlusion", "rise", "lime"]

    /// The post-hoc methods (every method but `bcos`), in `names` order.
    public static var postHoc: [String] { Array(names.dropFirst()) }

    /// The methods that run dozens to thousands of network passes per explanation.
    public static let slow: Set<String> = ["intgrad", "occlusion", "rise", "lime"]

    /// The method called `name` with its default settings.
    ///
    /// - Parameters:
    ///   - interactive: the paper's sizes where the default is larger for quality (RISE with 500 masks instead of
    ///     2000), for the explorer and the localisation metric.
    ///   - cell: the side of one image when the method explains a grid of them: occlusion's window follows it (the
    ///     v1 code's CIFAR-10 "Occ9" setting, 9x9 windows with stride 2 for 32 px images, scaled).
    public static func named(_ name: String, interactive: Bool = false, cell: Int? = nil) throws -> any AttributionMethod {
        switch name.lowercased() {
        case "bcos": BcosContributions()
        case "grad": Gradient()
        case "ixg": InputXGradient()
        case "intgrad": IntegratedGradients()
        case "deeplift": DeepLift()
        case "gradcam": GradCAM()
        case "occlusion":
            cell.map { cell in
                let window = max(3, (cell * 9 + 16) / 32) | 1
                return Occlusion(window: window, stride: max(2, (window + 2) / 4))
            } ?? Occlusion()
        case "rise": interactive ? RISE(masks: 500) : RISE()
        case "lime": LIME()
        default: throw BcosError("unknown attribution method '\(name)'; methods are: \(names.joined(separator: ", "))")
        }
    }
}

/// A method's map for one class with what some methods add to it.
public struct Attribution: Sendable {
    public var map: AttributionMap
    /// Integrated Gradients' logits at the image and the baseline, which the map should sum to the difference of.
    public var integrated: IntegratedGradients.Result?
    /// LIME's superpixels and their coefficients.
    public var superpixels: LIME.Result?
}

extension AttributionMethod {
    public func attribution(_ model: BcosModel, input: Tensor, target: Int) throws -> Attribution {
        Attribution(map: try attribute(model, input: input, target: target))
    }
}

extension IntegratedGradients {
    public func attribution(_ model: BcosModel, input: Tensor, target: Int) throws -> Attribution {
        let r = try integrate(model, input: input, target: target)
        return Attribution(map: r.map, integrated: r)
    }
}

extension LIME {
    public func attribution(_ model: BcosModel, input: Tensor, target: Int) throws -> Attribution {
        let r = try explain(model, input: input, target: target)
        return Attribution(map: r.map, superpixels: r)
    }
}
