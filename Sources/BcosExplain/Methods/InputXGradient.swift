import BcosEngine

/// Input × Gradient (Shrikumar et al. 2016; Captum `InputXGradient`): x · ∇f(x) with the full gradient, NOT
/// explanation mode (in explanation mode it would be the B-cos contribution map).
///
/// `values` is Σ over the encoded channels of x · ∇f(x); `perChannel` is x · ∇f(x) `[C, H, W]`.
public struct InputXGradient: AttributionMethod {
    public let name = "ixg"

    public init() {}

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try MethodSupport.check(model, input, target: target, method: name)
        let g = model.gradient(input, target: target).input
        return MethodSupport.map(perChannel: MethodSupport.product(input, g))
    }
}
