import BcosEngine

/// Input × Gradient (Shrikumar et al. 2016; Captum `InputXGradient`): x · ∇f(x) with the full gradient, NOT
/// explanation mode (in explanation mode it would be the B-cos contribution map).
///
/// `values` is Σ over the encoded channels of x · ∇f(x); `perChannel` is x · ∇f(x) `[C, H, W]`.
public struct InputXGradient: AttributionMethod {
    public let name = "ixg"

    public init() {}

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try attribute(model, input: input, targets: [target])[0]
    }

    /// Every class from one forward pass.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        return model.gradients(input, targets: targets).inputs.map { MethodSupport.map(perChannel: MethodSupport.product(input, $0)) }
    }
}
