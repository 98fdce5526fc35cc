import BcosEngine

/// Grad-CAM (Selvaraju et al. 2017) on the activations entering the classifier, as the B-cos paper ran it
/// (BCOS_REFERENCE §7, Captum `LayerGradCam` + `LayerAttribution.interpolate`):
///
///     w_c = mean over positions of ∂f/∂A_c,   cam = ReLU(Σ_c w_c A_c),   nearest-neighbour upsampled to H x W
///
/// - A: the input of the last B-cos convolution (the classifier; for the v1 9-layer net the `[256, 8, 8]` output
///   of layer 7 at 32 px), i.e. the last spatial feature map before the class scores.
/// - w_c: the spatial MEAN of the full gradient (Captum's `LayerGradCam`; the original paper's sum differs by the
///   constant number of positions only).
/// - ReLU as in the Grad-CAM paper (Captum's `relu_attributions=True`), so the map is ≥ 0.
/// - Upsampling: nearest neighbour, PyTorch `interpolate(mode="nearest")` indexing (source = ⌊dest · in / out⌋),
///   here in exact integer arithmetic. PyTorch multiplies by in / out rounded to float32, which for a few size
///   pairs picks the cell before at an exact boundary (2 → 82 at column 41, 3 → 123 at 41 and 82; none of
///   8 → 32, 4 → 14, 3 → 10, 7 → 224 or 14 → 224, checked against Captum in `CaptumOracleTests`).
///
/// No `perChannel`: the map lives on the feature grid, not on the input channels.
public struct GradCAM: AttributionMethod {
    public let name = "gradcam"

    public init() {}

    /// The node whose output Grad-CAM weighs: the input of the last B-cos convolution.
    public static func layer(of model: BcosModel) throws -> Int {
        let nodes = model.network.nodes
        guard let last = nodes.indices.last(where: { if case .bcosConv = nodes[$0].op { return true } else { return false } }) else {
            throw BcosError("gradcam needs a B-cos convolution in the network; this model has none")
        }
        return nodes[last].inputs[0]
    }

    public func attribute(_ model: BcosModel, input: Tensor, target: Int) throws -> AttributionMap {
        try attribute(model, input: input, targets: [target])[0]
    }

    /// Every class from one forward pass.
    public func attribute(_ model: BcosModel, input: Tensor, targets: [Int]) throws -> [AttributionMap] {
        for t in targets { try MethodSupport.check(model, input, target: t, method: name) }
        let node = try Self.layer(of: model)
        let result = model.gradients(input, targets: targets, keep: [node])
        let a = result.trace.outputs[node]! // [1, C, h, w]
        precondition(a.shape.count == 4, "gradcam needs a spatial feature map, node \(node) has shape \(a.shape)")
        // The backward never visits node 0 as a kept node; its gradient is the input gradient.
        return targets.indices.map { t in
            cam(a, gradient: node == 0 ? result.inputs[t] : result.nodes[t][node]!, height: input.shape[2], width: input.shape[3])
        }
    }

    /// ReLU(Σ_c mean(g_c) A_c), upsampled to `height x width`.
    private func cam(_ a: Tensor, gradient g: Tensor, height: Int, width: Int) -> AttributionMap {
        let c = a.shape[1], h = a.shape[2], w = a.shape[3], p = h * w
        var cam = [Float](repeating: 0, count: p) // [h, w]
        for ch in 0..<c {
            var weight: Float = 0
            for i in 0..<p { weight += g.data[ch * p + i] }
            weight /= Float(p)
            for i in 0..<p { cam[i] += weight * a.data[ch * p + i] }
        }
        var values = [Float](repeating: 0, count: height * width)
        for y in 0..<height {
            let sy = min(h - 1, y * h / height)
            for x in 0..<width {
                values[y * width + x] = max(0, cam[sy * w + min(w - 1, x * w / width)])
            }
        }
        return AttributionMap(height: height, width: width, values: values)
    }
}
