import BcosEngine

/// A per-pixel attribution map for one image and one class.
public struct AttributionMap: Sendable {
    public var height: Int
    public var width: Int
    /// Signed attribution per pixel, `[H, W]` row-major: summed over the input channels where the method attributes
    /// each channel (the gradient-based ones, see `perChannel`); the pixel's one value where the method perturbs
    /// whole pixels (occlusion, RISE, LIME).
    public var values: [Float]
    /// The per-channel attribution `[C, H, W]` when the method has one (gradient-based methods).
    public var perChannel: Tensor?

    public init(height: Int, width: Int, values: [Float], perChannel: Tensor? = nil) {
        precondition(values.count == height * width, "attribution map of \(values.count) values for \(height)x\(width)")
        self.height = height
        self.width = width
        self.values = values
        self.perChannel = perChannel
    }
}

/// An explanation method that can be compared with the others on the same model (BCOS_REFERENCE §7).
public protocol AttributionMethod: Sendable {
    /// The name used on the command line and in tables (`bcos`, `grad`, `ixg`, `intgrad`, `deeplift`,
    /// `gradcam`, `lime`, `rise`, `occlusion`).
    var name: String { get }
    /// The attribution of class `target`'s logit for one encoded image `[1, C, H, W]`.
    func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap
    /// The attributions of several classes of one image, in `targets` order. Methods whose network passes do
    /// not depend on the class (occlusion, RISE, LIME) share them between the classes; the others explain each.
    func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap]
    /// The attribution of class `target` with what the method adds to its map (completeness, superpixels).
    func attribution(_ model: BcosModel, input: Tensor, target: Int) throws -> Attribution
}

extension AttributionMethod {
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        try targets.map { try attribute(model, input: input, target: $0) }
    }
}

/// The inherent B-cos explanation: the contribution map Σ_c x · W(x) (explanation mode).
public struct BcosContributions: AttributionMethod {
    public let name = "bcos"

    public init() {}

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try attribute(model, input: input, targets: [target])[0]
    }

    /// Every class from one forward pass.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        try model.explain(input, targets: targets.map { .logit($0) }).map { e in
            let c = e.weights.shape[0], h = e.weights.shape[1], w = e.weights.shape[2]
            var per = e.weights
            for i in 0..<(c * h * w) { per.data[i] *= e.input.data[i] }
            return AttributionMap(height: h, width: w, values: e.contributions.data, perChannel: per)
        }
    }
}
