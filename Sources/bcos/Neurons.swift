import ArgumentParser
import BcosData
import BcosEngine
import BcosExplain
import Foundation

/// `bcos neurons`: the most active channels of one layer for one image, each explained like a logit.
struct Neurons: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rank a layer's neurons (channels) for one image and explain the top ones.",
        discussion: """
        Channels are ranked by their largest activation over positions (or by their mean with --by mean). Each \
        top neuron is explained from its most active position, backward through the frozen network and times \
        the sign of its activation, as in the B-cos paper: its colour explanation and signed contribution map. \
        LAYER is a name or #N, a node number, from `bcos info`; every layer works, first to last (the last one's \
        neurons are the classes). With --out, writes <stem>_<layer>_ch<C>_explanation.png and \
        _contributions.png per neuron and <stem>_<layer>_neurons.png, a panel of them all.
        """)

    @Option(name: .long, help: "Model file (.safetensors).")
    var model: String

    @OptionGroup var input: InputOptions

    @OptionGroup var pictures: PictureOptions

    @Option(name: .long, help: "Layer name, or #N for node N (see `bcos info`).")
    var layer: String

    @Option(name: .long, help: "How many neurons to show.")
    var top: Int = 8

    @Option(name: .long, help: "Rank by max (largest activation over positions, default) or mean.")
    var by: String = "max"

    @Flag(name: .long, help: "Print one JSON object instead of the table.")
    var json = false


    func run() throws {
        try pictures.checkValues()
        guard top >= 1 else { throw BcosError("--top must be at least 1, got \(top)") }
        guard by == "max" || by == "mean" else { throw BcosError("--by '\(by)' is not a ranking; use max or mean") }
        let m = try BcosModel.load(model)
        let (x, image, stem, label) = try input.load(for: m, modelPath: model)
        let node = try m.nodeIndex(layer)
        let name = m.network.nodes[node].name
        let h = x.shape[2], w = x.shape[3]
        let shape = m.network.shapes(input: x.shape)[node]
        let views = try NeuronView.top(top, of: name, model: m, input: x, byMean: by == "mean",
                                       smooth: try pictures.smoothing(height: h, width: w))
        let factor = try pictures.factor(height: h, width: w)
        let safeName = name.replacingOccurrences(of: "/", with: "-")

        // Every output path is checked before any file is written.
        var paths = [(explanation: String, contributions: String)]()
        var panelPath: String?
        if pictures.out != nil {
            for n in views.map(\.neuron) {
                paths.append((try pictures.path("\(stem)_\(safeName)_ch\(n.channel)_explanation.png"),
                              try pictures.path("\(stem)_\(safeName)_ch\(n.channel)_contributions.png")))
            }
            panelPath = try pictures.path("\(stem)_\(safeName)_neurons.png")
        }

        var rows = [[String: Any]]()
        var tiles = [Pictures.Tile(title: "image", rgb: Pictures.imageRGB(x, channels: m.config.imageChannels))]
        var files = [String]()
        for (i, v) in views.enumerated() {
            let (n, e) = (v.neuron, v.explanation)
            var row: [String: Any] = [
                "channel": n.channel, "activation": CLI.json(n.activation), "position": [n.y, n.x],
                "explained_value": e.explainedValue, "completeness_error": e.completenessError,
            ]
            if !paths.isEmpty {
                try pictures.write(Canvas(pixels: v.colour, width: w, height: h, factor: factor), to: paths[i].explanation)
                try pictures.write(Pictures.signedPicture(v.contributions, width: w, height: h, factor: factor,
                                                          bar: pictures.colourBar), to: paths[i].contributions)
                files += [paths[i].explanation, paths[i].contributions]
                row["files"] = [paths[i].explanation, paths[i].contributions]
                tiles.append(NeuronView.tile(channel: n.channel, activation: n.activation, colour: v.colour))
            }
            rows.append(row)
        }
        if let panelPath {
            try pictures.write(Pictures.panel(tiles, width: w, height: h, factor: max(1, min(factor, 160 / max(h, w)))),
                               to: panelPath)
            files.append(panelPath)
        }
        if json {
            try CLI.printJSON([
                "model": model, "image": image, "true_class": label.map { $0 as Any } ?? NSNull(),
                "layer": name, "node": node, "shape": shape, "ranked_by": by, "neurons": rows, "files": files,
            ])
            return
        }
        print("model      \(model)")
        print("image      \(image) (\(w)x\(h))" + (label.map { ", true class \($0) (\(m.classes[$0]))" } ?? ""))
        print("layer      \(name) (node \(node)), output \(CLI.format(shape)), \(shape[1]) channels; ranked by \(by) activation")
        print("")
        print("  rank  channel   \(by == "max" ? "max act" : "mean act")   at (y, x)   completeness error")
        for (i, (n, err)) in views.map({ ($0.neuron, $0.explanation.completenessError) }).enumerated() {
            print("  \(String(i + 1).leftPad(4))  \(String(n.channel).leftPad(7))  \(String(format: "%9.4g", n.activation))"
                  + "   \("(\(n.y), \(n.x))".rightPad(10))  \(String(format: "%.2g", err))")
        }
        for f in files { print("wrote      \(f)") }
    }
}
