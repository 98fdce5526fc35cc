import BcosEngine
import Foundation

/// Everything a view shows of one image's B-cos explanation, from one forward pass: the explanations and their
/// pictures as RGB bytes `[H, W, 3]` (`bcos explain`, the explorer's inspect view and its export draw these).
public struct ExplanationViews: Sendable {
    /// The explanation of the target asked for.
    public let explanation: Explanation
    /// The top-2 Δ explanation (top-1 minus top-2 logit), when asked for.
    public let delta: Explanation?
    /// The image part of the encoded input, `[H, W, 3]` (grey repeated).
    public let image: [UInt8]
    /// The colour explanation composited over black, `[H, W, 3]`.
    public let colour: [UInt8]
    /// The signed contribution map in blue-white-red and its clip range.
    public let contributions: (rgb: [UInt8], range: Float)
    /// The signed top-2 Δ map and its clip range, when explained.
    public let deltaMap: (rgb: [UInt8], range: Float)?

    /// Explains `target` (and the top-2 Δ with `delta`) for one encoded image `[1, C, H, W]`.
    ///
    /// - Parameters:
    ///   - smooth: odd mean-filter size for the colour explanation's opacity.
    ///   - overlay: draw the signed maps over a grey copy of the image.
    public init(model: BcosModel, input x: Tensor, target: ExplanationTarget, delta: Bool = true, smooth: Int = 1,
                overlay: Bool = false) throws {
        let all = try model.explain(x, targets: delta ? [target, .topTwoDelta] : [target])
        explanation = all[0]
        self.delta = delta ? all[1] : nil
        image = Pictures.imageRGB(x, channels: model.config.imageChannels)
        colour = Pictures.colour(explanation, smooth: smooth)
        let over = overlay ? image : nil
        contributions = Pictures.signedMap(all[0].contributions.data, over: over)
        deltaMap = delta ? Pictures.signedMap(all[1].contributions.data, over: over) : nil
    }

    /// The classes of the top-2 Δ (top-1, top-2).
    public var deltaClasses: (Int, Int)? {
        guard case .difference(let a, let b)? = delta?.target else { return nil }
        return (a, b)
    }

    /// The panel: image | colour explanation | contribution map | top-2 Δ map, titled with the class names.
    public func tiles(classes: [String]) -> [Pictures.Tile] {
        let what = Self.title(explanation.target, classes: classes)
        var tiles = [Pictures.Tile(title: "image", rgb: image), Pictures.Tile(title: "explanation " + what, rgb: colour),
                     Pictures.Tile(title: "contributions " + what, rgb: contributions.rgb, range: contributions.range)]
        if let map = deltaMap, let (a, b) = deltaClasses {
            tiles.append(Pictures.Tile(title: "delta \(classes[a]) - \(classes[b])", rgb: map.rgb, range: map.range))
        }
        return tiles
    }

    /// A short title for a target: a class name, a difference, a neuron.
    static func title(_ t: ExplanationTarget, classes: [String]) -> String {
        switch t {
        case .logit(let k): return classes[k]
        case .difference(let a, let b): return "\(classes[a]) - \(classes[b])"
        case .neuron(let layer, let channel, _): return "\(layer):\(channel)"
        default: return ""
        }
    }
}

/// One of a layer's most active channels for one image, explained from its most active position, with pictures.
public struct NeuronView: Sendable {
    public let neuron: RankedNeuron
    public let explanation: Explanation
    /// The colour explanation composited over black, `[H, W, 3]`.
    public let colour: [UInt8]

    /// The `count` most active channels of `layer` (ranked by maximum, or mean with `byMean`), all explained from
    /// one forward pass (`BcosModel.explainNeurons`).
    ///
    /// - Parameter smooth: odd mean-filter size for the colour explanations' opacity.
    public static func top(_ count: Int, of layer: String, model: BcosModel, input x: Tensor, byMean: Bool = false,
                           smooth: Int = 1) throws -> [NeuronView] {
        try model.explainNeurons(x, layer: layer, top: count, byMean: byMean).map {
            NeuronView(neuron: $0.neuron, explanation: $0.explanation, colour: Pictures.colour($0.explanation, smooth: smooth))
        }
    }

    /// The signed contribution map in blue-white-red and its clip range.
    public var contributions: (rgb: [UInt8], range: Float) { Pictures.signedMap(explanation.contributions.data) }

    /// The part of the image the neuron's receptive field covers (where its W(x) is nonzero).
    public var field: Pictures.Region { Pictures.support(of: explanation.weights) }

    /// A neuron's panel tile: its colour explanation `[H, W, 3]` titled with its channel and activation.
    public static func tile(channel: Int, activation: Float, colour: [UInt8]) -> Pictures.Tile {
        Pictures.Tile(title: "ch \(channel) " + String(format: "%.3g", activation), rgb: colour)
    }
}

/// A post-hoc method's map for one class of one image, with its pictures `[H, W, 3]`.
public struct MethodView: Sendable {
    public let attribution: Attribution
    /// The method's name, for titles.
    public let method: String
    /// The image part of the encoded input (grey repeated).
    public let image: [UInt8]
    /// The signed map in blue-white-red (over a grey copy of the image with `overlay`) and its clip range.
    public let signed: (rgb: [UInt8], range: Float)
    /// LIME: the image with all but the top-5 positive superpixels darkened (the paper's picture).
    public let topSuperpixels: [UInt8]?

    /// Attributes class `target` of one encoded image `[1, C, H, W]` with `method`.
    public init(_ method: any AttributionMethod, model: BcosModel, input x: Tensor, target: Int,
                overlay: Bool = false) throws {
        attribution = try method.attribution(model, input: x, target: target)
        self.method = method.name
        image = Pictures.imageRGB(x, channels: model.config.imageChannels)
        signed = Pictures.signedMap(attribution.map.values, over: overlay ? image : nil)
        topSuperpixels = attribution.superpixels.map {
            Pictures.imageRGB(x, channels: model.config.imageChannels, mask: $0.topMask(5))
        }
    }

    /// The panel: image | the method's map titled with `className` | LIME's top superpixels.
    public func tiles(className: String) -> [Pictures.Tile] {
        [Pictures.Tile(title: "image", rgb: image),
         Pictures.Tile(title: "\(method) \(className)", rgb: signed.rgb, range: signed.range)]
            + (topSuperpixels.map { [Pictures.Tile(title: "lime top 5", rgb: $0)] } ?? [])
    }
}

extension Pictures {
    /// The image part of an encoded input `[1, C', H, W]` or `[C', H, W]` (before AddInverse) as 8-bit RGB
    /// `[H, W, 3]`, grey repeated; pixels outside `mask` (`[H*W]`) darkened to a quarter (LIME's picture).
    public static func imageRGB(_ x: Tensor, channels c: Int, mask: [Bool]? = nil) -> [UInt8] {
        let p = x.shape[x.shape.count - 2] * x.shape[x.shape.count - 1]
        var rgb = [UInt8](repeating: 0, count: p * 3)
        for i in 0..<p {
            let dim: Float = mask.map { $0[i] ? 1 : 0.25 } ?? 1
            for k in 0..<3 {
                rgb[i * 3 + k] = UInt8(min(255, max(0, (x.data[min(k, c - 1) * p + i] * dim * 255).rounded())))
            }
        }
        return rgb
    }

    /// The colour explanation of `e` composited over black, `[H, W, 3]`.
    static func colour(_ e: Explanation, smooth: Int) -> [UInt8] {
        Visualize.composite(Visualize.colourExplanation(input: e.input, weights: e.weights, smooth: smooth))
    }
}
