import BcosEngine

/// DeepLIFT (Shrikumar et al. 2017) as Captum's `DeepLift` computes it on a B-cos network (BCOS_REFERENCE §7):
///
///     attribution = (x − x̄) · ∇f(x)
///
/// Captum's rescale rule replaces the gradient only inside the non-linear modules it knows (ReLU, ELU, Sigmoid,
/// Tanh, Softmax, max-pooling). B-cos networks have none of them: the B-cos non-linearity (dynamic scale, MaxOut)
/// is written as ordinary tensor operations inside the conv modules, which Captum differentiates normally. What is
/// left is the plain input gradient times the difference from the baseline, and with Captum's default zero
/// baseline, here zero in the ENCODED space (x̄ = 0, not the black image), that is Input × Gradient.
public struct DeepLift: AttributionMethod {
    public let name = "deeplift"
    /// The encoded baseline `[1, C, H, W]`; nil for all zeros in the encoded space (Captum's default).
    public var baseline: Tensor?

    public init(baseline: Tensor? = nil) {
        self.baseline = baseline
    }

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try attribute(model, input: input, targets: [target])[0]
    }

    /// Every class from one forward pass.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        var difference = input // [1, C, H, W]
        if let baseline {
            precondition(baseline.shape == input.shape, "baseline shape \(baseline.shape) differs from input \(input.shape)")
            for e in 0..<difference.count { difference.data[e] -= baseline.data[e] }
        }
        return model.gradients(input, targets: targets).inputs.map {
            MethodSupport.map(perChannel: MethodSupport.product(difference, $0))
        }
    }
}
