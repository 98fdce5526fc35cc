import ArgumentParser
import BcosData
import BcosEngine
import BcosExplain
import Foundation

/// `bcos explain`: logits, prediction, completeness, and PNGs of the contribution map and colour explanation, or
/// of a post-hoc attribution method's map.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain one image: logits, prediction, completeness error, contribution map and colour explanation "
            + "(or a post-hoc method's map).",
        discussion: """
        TARGET is a class name or index, 'predicted' (default), 'top2-delta' (top-1 minus top-2 logit), \
        'A-B' (class A minus class B), or a neuron 'LAYER:CHANNEL' (summed over positions), \
        'LAYER:CHANNEL@Y,X' or 'LAYER:CHANNEL@max'. Layers are named as in `bcos info`.

        METHOD is bcos (the model's own explanation, default) or one of the post-hoc methods the B-cos paper \
        compares against: grad, ixg, intgrad, deeplift, gradcam, occlusion, rise, lime (BCOS_REFERENCE §7 \
        settings). Post-hoc methods explain one class (TARGET a class or 'predicted') and write \
        <stem>_<method>.png (signed blue-white-red map), plus <stem>_lime_top5.png for lime (the image with all \
        but the top-5 positive superpixels darkened).
        """)

    @Option(name: .long, help: "Model file (.safetensors).")
    var model: String

    @OptionGroup var input: InputOptions

    @OptionGroup var pictures: PictureOptions

    @Option(name: .long, help: "What to explain (see below).")
    var target: String = "predicted"

    @Option(name: .long, help: "Attribution method: \(Methods.names.joined(separator: ", ")) (see below).")
    var method: String = "bcos"

    @Flag(name: .long, help: """
        Print one JSON object (logits, predicted, target, method, attribution; contributions, completeness_error \
        where they apply).
        """)
    var json = false

    @Flag(name: .long, help: "Include W(x) ([C][H][W]) in the JSON output (bcos only).")
    var weights = false

    @Flag(name: .long, help: "Draw signed maps over a grey copy of the image (opacity |value| / clip range).")
    var overlay = false

    @Flag(name: .long, help: """
        Also write <stem>_panel.png: image | colour explanation | contribution map | top-2 Δ map for bcos, \
        image | map for a post-hoc method; titled, with colour bars.
        """)
    var panel = false

    func run() throws {
        try pictures.checkValues()
        let attribution = try Methods.named(method)
        if pictures.out == nil, let flag = [(panel, "--panel"), (overlay, "--overlay"), (pictures.colourBar, "--colour-bar")].first(where: \.0)?.1 {
            throw BcosError("\(flag) shapes the PNGs; add --out DIR to write them")
        }
        let m = try BcosModel.load(model)
        let subject = try input.load(for: m, modelPath: model)
        let (x, stem) = (subject.x, subject.stem)
        let t = try ExplanationTarget.parse(target, model: m)
        if attribution.name != "bcos" {
            try runPostHoc(attribution, model: m, target: t, subject: subject)
            return
        }
        let h = x.shape[2], w = x.shape[3]
        let writing = pictures.out != nil
        let views = try ExplanationViews(model: m, input: x, target: t, delta: writing && panel,
                                         smooth: writing ? try pictures.smoothing(height: h, width: w) : 1, overlay: overlay)
        let e = views.explanation
        var files = [String]()
        if writing {
            let factor = try pictures.factor(height: h, width: w)
            let contribPath = try pictures.path("\(stem)_contributions.png")
            let colourPath = try pictures.path("\(stem)_explanation.png")
            let panelPath = panel ? try pictures.path("\(stem)_panel.png") : nil
            try pictures.write(Pictures.signedPicture(views.contributions, width: w, height: h, factor: factor,
                                                      bar: pictures.colourBar), to: contribPath)
            try pictures.write(Canvas(pixels: views.colour, width: w, height: h, factor: factor), to: colourPath)
            files = [contribPath, colourPath]
            if let panelPath {
                try pictures.write(Pictures.panel(views.tiles(classes: m.classes), width: w, height: h, factor: factor),
                                   to: panelPath)
                files.append(panelPath)
            }
        }
        if json {
            var obj = fields(e.logits, predicted: e.predicted, model: m, subject: subject, method: "bcos",
                             map: e.contributions.data, files: files)
            obj["target"] = e.targetDescription
            obj["explained_value"] = e.explainedValue
            obj["completeness_error"] = e.completenessError
            obj["contributions"] = obj["attribution"]
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
        printLogits(e.logits, predicted: e.predicted, model: m, subject: subject)
        print("target     \(e.targetDescription) = \(String(format: "%.6g", e.explainedValue))")
        let total = e.contributions.data.reduce(0.0) { $0 + Double($1) }
        print("completeness  sum(x*W) = \(String(format: "%.6g", total)), error \(String(format: "%.3g", e.completenessError))"
              + " (relative \(String(format: "%.2g", e.completenessError / max(1e-30, abs(e.explainedValue)))))")
        for f in files { print("wrote      \(f)") }
    }

    /// The JSON fields both `--method bcos` and the post-hoc methods print; `map` `[H*W]` as H arrays of W numbers.
    private func fields(_ logits: [Float], predicted: Int, model m: BcosModel, subject: InputOptions.Subject,
                        method: String, map: [Float], files: [String]) -> [String: Any] {
        let h = subject.x.shape[2], w = subject.x.shape[3]
        return ["model": model, "image": subject.image, "true_class": subject.label.map { $0 as Any } ?? NSNull(),
                "logits": logits.map(CLI.json), "probabilities": logits.map { CLI.json(sigmoid($0)) },
                "predicted": predicted, "predicted_class": m.classes[predicted], "method": method,
                "attribution": (0..<h).map { y in (0..<w).map { CLI.json(map[y * w + $0]) } }, "files": files]
    }

    /// The header and logits table of the text output.
    private func printLogits(_ logits: [Float], predicted: Int, model m: BcosModel, subject: InputOptions.Subject) {
        print("model      \(model)")
        print("image      \(subject.image) (\(subject.x.shape[3])x\(subject.x.shape[2]))" + (subject.label.map { ", true class \($0) (\(m.classes[$0]))" } ?? ""))
        let order = logits.indices.sorted { logits[$0] > logits[$1] }
        print("")
        print("  class                 logit      p(sigmoid)")
        for k in order.prefix(10) {
            let mark = k == predicted ? "*" : " "
            print(" \(mark)\(String(k).leftPad(3)) \(m.classes[k].rightPad(16)) \(String(format: "%10.4f", logits[k]))   "
                  + String(format: "%.4f", sigmoid(logits[k])))
        }
        if order.count > 10 { print("  ... \(order.count - 10) more") }
        print("")
        print("predicted  \(predicted) (\(m.classes[predicted]))")
    }

    /// A post-hoc method's map for one class: PNG(s), JSON or text. There is no completeness to check except
    /// for IntGrad (Σ attribution ≈ f(x) − f(black)).
    private func runPostHoc(_ attribution: any AttributionMethod, model m: BcosModel, target t: ExplanationTarget,
                            subject: InputOptions.Subject) throws {
        let (x, stem) = (subject.x, subject.stem)
        let name = attribution.name
        guard !weights else { throw BcosError("--weights applies to --method bcos only; \(name) has no W(x)") }
        guard pictures.smooth == nil else {
            throw BcosError("--smooth applies to --method bcos only (the colour explanation)")
        }
        let logits = m.logits(x).data
        let predicted = logits.indices.max { logits[$0] < logits[$1] }!
        let k: Int
        switch t {
        case .predicted: k = predicted
        case .logit(let c): k = c
        default:
            throw BcosError("--target '\(target)' applies to --method bcos only; --method \(name) explains one class: "
                            + "give a class name or index, or 'predicted'")
        }
        let h = x.shape[2], w = x.shape[3]
        // Paths are checked before the (possibly slow) attribution so that a refusal comes at once.
        var mapPath: String?, topPath: String?, panelPath: String?
        var factor = 1
        if pictures.out != nil {
            factor = try pictures.factor(height: h, width: w)
            mapPath = try pictures.path("\(stem)_\(name).png")
            if name == "lime" { topPath = try pictures.path("\(stem)_lime_top5.png") }
            if panel { panelPath = try pictures.path("\(stem)_\(name)_panel.png") }
        }
        let start = Date()
        let view = try MethodView(attribution, model: m, input: x, target: k, overlay: overlay)
        let (map, integrated, lime) = (view.attribution.map, view.attribution.integrated, view.attribution.superpixels)
        let seconds = Date().timeIntervalSince(start)
        var files = [String]()
        if let mapPath {
            try pictures.write(Pictures.signedPicture(view.signed, width: w, height: h, factor: factor, bar: pictures.colourBar),
                               to: mapPath)
            files.append(mapPath)
        }
        if let topPath, let top = view.topSuperpixels {
            try pictures.write(Canvas(pixels: top, width: w, height: h, factor: factor), to: topPath)
            files.append(topPath)
        }
        if let panelPath {
            try pictures.write(Pictures.panel(view.tiles(className: m.classes[k]), width: w, height: h, factor: factor),
                               to: panelPath)
            files.append(panelPath)
        }
        let description = "logit \(k) (\(m.classes[k]))"
        if json {
            var obj = fields(logits, predicted: predicted, model: m, subject: subject, method: name, map: map.values, files: files)
            obj["target"] = description
            obj["target_class"] = k
            if let integrated {
                obj["explained_value"] = Double(integrated.logit) - Double(integrated.baselineLogit)
                obj["baseline_logit"] = CLI.json(integrated.baselineLogit)
                obj["completeness_error"] = integrated.completenessError
            }
            if let lime { obj["lime_top5_segments"] = lime.topSegments(5) }
            try CLI.printJSON(obj)
            return
        }
        printLogits(logits, predicted: predicted, model: m, subject: subject)
        print("target     \(description) = \(String(format: "%.6g", logits[k]))")
        print("method     \(name) (\(String(format: "%.2f", seconds)) s)")
        if let integrated {
            let total = map.values.reduce(0.0) { $0 + Double($1) }
            let difference = Double(integrated.logit) - Double(integrated.baselineLogit)
            print("completeness  sum(attribution) = \(String(format: "%.6g", total)), f(x) - f(black) = "
                  + "\(String(format: "%.6g", difference)), error \(String(format: "%.3g", integrated.completenessError))"
                  + " (relative \(String(format: "%.2g", integrated.completenessError / max(1e-30, abs(difference)))))")
        } else {
            print("completeness: n/a for post-hoc methods")
        }
        if let lime { print("lime       \(lime.segmentCount) superpixels, top 5 positive: \(lime.topSegments(5))") }
        for f in files { print("wrote      \(f)") }
    }
}
