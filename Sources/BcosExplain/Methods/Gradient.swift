import BcosEngine

/// Grad (Simonyan et al. 2014; Captum `Saliency` with `abs=False`, as the B-cos paper ran it, BCOS_REFERENCE §7):
/// the signed input gradient of the target logit.
///
/// The gradient is the full autograd gradient: the B-cos dynamic scale and the patch norms are differentiated
/// (nothing detached), unlike the explanation-mode W(x). `values` is the gradient summed over the encoded channels;
/// `perChannel` is the gradient itself `[C, H, W]`.
public struct Gradient: AttributionMethod {
    public let name = "grad"

    public init() {}

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try attribute(model, input: input, targets: [target])[0]
    }

    /// Every class from one forward pass.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        return model.gradients(input, targets: targets).inputs.map { MethodSupport.map(perChannel: $0) }
    }
}
