import ArgumentParser
import BcosData
import BcosEngine
import BcosExplain
import Foundation

/// `bcos explain`: logits, prediction, completeness, and PNGs of the contribution map and colour explanation.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain one image: logits, prediction, completeness error, contribution map and colour explanation.",
        discussion: """
        TARGET is a class name or index, 'predicted' (default), 'top2-delta' (top-1 minus top-2 logit), \
        'A-B' (class A minus class B), or a neuron 'LAYER:CHANNEL' (summed over positions), \
        'LAYER:CHANNEL@Y,X' or 'LAYER:CHANNEL@max'. Layers are named as in `bcos info`.
        """)

    @Option(name: .long, help: "Model file (.safetensors).")
    var model: String

    @Option(name: .long, help: "Image (PNG).")
    var image: String

    @Option(name: .long, help: "What to explain (see below).")
    var target: String = "predicted"

    @Option(name: .long, help: "Directory for the PNGs (created if missing).")
    var out: String?

    @Flag(name: .long, help: "Print one JSON object (logits, predicted, target, contributions, completeness_error).")
    var json = false

    @Flag(name: .long, help: "Include W(x) ([C][H][W]) in the JSON output.")
    var weights = false

    @Flag(name: .long, help: "Resize an image of another size to the model's image_size (antialiased bilinear).")
    var resize = false

    @Flag(name: .customLong("native-size"), help: "Run at the image's own size (fully convolutional models).")
    var nativeSize = false

    @Option(name: .long, help: "Odd mean-filter size for the colour explanation's opacity (default 1 below 64 px, else 15).")
    var smooth: Int?

    @Option(name: .long, help: "Integer nearest-neighbour upscaling of the PNGs (default: longer side >= 256 px).")
    var upscale: Int?

    @Flag(name: .long, help: "Replace existing PNGs in --out.")
    var force = false

    func run() throws {
        let m = try BcosModel.load(model)
        let x = try CLI.loadInput(image, model: m, resize: resize, native: nativeSize)
        let t = try ExplanationTarget.parse(target, model: m)
        let e = try m.explain(x, target: t)
        let h = x.shape[2], w = x.shape[3]
        var files = [String]()
        if let out {
            let smoothing = smooth ?? (max(h, w) < 64 ? 1 : 15)
            guard smoothing >= 1 && smoothing % 2 == 1 else { throw BcosError("--smooth must be an odd number >= 1, got \(smoothing)") }
            let factor = upscale ?? max(1, (256 + max(h, w) - 1) / max(h, w))
            guard factor >= 1 && factor <= 64 else { throw BcosError("--upscale must be between 1 and 64, got \(factor)") }
            let stem = ((image as NSString).lastPathComponent as NSString).deletingPathExtension
            let contribPath = try CLI.outputPath(out, "\(stem)_contributions.png", force: force)
            let colourPath = try CLI.outputPath(out, "\(stem)_explanation.png", force: force)
            let (rgb, _) = Visualize.signedColours(e.contributions.data)
            try PNG.write(Image(width: w * factor, height: h * factor,
                                rgb: Visualize.upscale(rgb, width: w, height: h, channels: 3, factor: factor)),
                          to: contribPath, overwrite: force)
            let rgba = Visualize.colourExplanation(input: e.input, weights: e.weights, smooth: smoothing)
            let colour = Visualize.composite(rgba, background: 0)
            try PNG.write(Image(width: w * factor, height: h * factor,
                                rgb: Visualize.upscale(colour, width: w, height: h, channels: 3, factor: factor)),
                          to: colourPath, overwrite: force)
            files = [contribPath, colourPath]
        }
        let probs = e.logits.map(CLI.sigmoid)
        if json {
            var obj: [String: Any] = [
                "model": model, "image": image,
                "logits": e.logits.map(CLI.json), "probabilities": probs.map(CLI.json),
                "predicted": e.predicted, "predicted_class": m.classes[e.predicted],
                "target": e.targetDescription, "explained_value": e.explainedValue,
                "completeness_error": e.completenessError,
                "contributions": (0..<h).map { y in (0..<w).map { CLI.json(e.contributions.data[y * w + $0]) } },
                "files": files,
            ]
            switch e.target {
            case .logit(let k): obj["target_class"] = k
            case .difference(let a, let b): obj["target_classes"] = [a, b]
            case .neuron(let layer, let channel, let pos):
                obj["target_layer"] = layer
                obj["target_channel"] = channel
                if case .at(let y, let xx) = pos { obj["target_position"] = [y, xx] }
            default: break
            }
            if weights {
                let c = e.weights.shape[0]
                obj["weights"] = (0..<c).map { ch in
                    (0..<h).map { y in (0..<w).map { CLI.json(e.weights.data[(ch * h + y) * w + $0]) } }
                }
            }
            try CLI.printJSON(obj)
            return
        }
        print("model      \(model)")
        print("image      \(image) (\(w)x\(h))")
        let order = e.logits.indices.sorted { e.logits[$0] > e.logits[$1] }
        print("")
        print("  class                 logit      p(sigmoid)")
        for k in order.prefix(10) {
            let mark = k == e.predicted ? "*" : " "
            print(" \(mark)\(String(k).leftPad(3)) \(m.classes[k].rightPad(16)) \(String(format: "%10.4f", e.logits[k]))   \(String(format: "%.4f", probs[k]))")
        }
        if order.count > 10 { print("  ... \(order.count - 10) more") }
        print("")
        print("predicted  \(e.predicted) (\(m.classes[e.predicted]))")
        print("target     \(e.targetDescription) = \(String(format: "%.6g", e.explainedValue))")
        let total = e.contributions.data.reduce(0.0) { $0 + Double($1) }
        print("completeness  sum(x*W) = \(String(format: "%.6g", total)), error \(String(format: "%.3g", e.completenessError))"
              + " (relative \(String(format: "%.2g", e.completenessError / max(1e-30, abs(e.explainedValue)))))")
        for f in files { print("wrote      \(f)") }
    }
}
