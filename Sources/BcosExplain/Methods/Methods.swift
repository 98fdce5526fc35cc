import BcosEngine

/// The attribution methods by the names used on the command line and in tables (BCOS_REFERENCE §7), each with
/// its defaults.
public enum Methods {
    /// Every method name, the inherent B-cos explanation first.
    public static let names = ["bcos", "grad", "ixg", "intgrad", "deeplift", "gradcam", "occlusion", "rise", "lime"]

    /// The method called `name` with its default settings.
    ///
    /// - Parameter interactive: the paper's sizes where the default is larger for quality (RISE with 500 masks
    ///   instead of 2000), for the explorer and the localisation metric.
    public static func named(_ name: String, interactive: Bool = false) throws -> any AttributionMethod {
        if interactive && name.lowercased() == "rise" { return RISE(masks: 500) }
        return try byName(name)
    }

    private static func byName(_ name: String) throws -> any AttributionMethod {
        switch name.lowercased() {
        case "bcos": BcosContributions()
        case "grad": Gradient()
        case "ixg": InputXGradient()
        case "intgrad": IntegratedGradients()
        case "deeplift": DeepLift()
        case "gradcam": GradCAM()
        case "occlusion": Occlusion()
        case "rise": RISE()
        case "lime": LIME()
        default: throw BcosError("unknown attribution method '\(name)'; methods are: \(names.joined(separator: ", "))")
        }
    }
}
