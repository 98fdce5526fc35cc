import ArgumentParser
import BcosData
import BcosEngine
import BcosTUI
import Foundation

/// `bcos explore` (also `bcos` with no arguments): the terminal explorer.
struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the terminal explorer (the default command).",
        discussion: """
        Without --data it opens Fashion-MNIST from /usr/share/datasets/fashion-mnist (apt-get install \
        dataset-fashion-mnist) with the shipped Fashion-MNIST model. Models offered: the shipped ones \
        (assets/models), those in --models DIR, and --model. With an imported ImageNet model as --model, \
        --data can be a folder of photos of any size (class subfolders): they go through the model's \
        evaluation transform (shorter side resized, centre crop) as they load. Press ? inside for the keys.
        """)

    @Option(name: .long, help: "Dataset directory (CIFAR-10 binary, IDX, or image folder).")
    var data: String?

    @Option(name: .long, help: "Split to browse: test or train.")
    var split: String = "test"

    @Option(name: .long, help: "Model to open first (.safetensors).")
    var model: String?

    @Option(name: .long, help: "Directory of more models to offer.")
    var models: String?

    @Option(name: .long, help: "Colour: auto, truecolor, 256, 16 or none.")
    var color: String = "auto"

    @Option(name: .long, help: "Directory for exported PNGs.")
    var export: String = "bcos-export"

    @Option(name: .long, help: "Browse at most this many images.")
    var limit: Int?

    static let defaultData = "/usr/share/datasets/fashion-mnist"

    func run() throws {
        let colorMode: ColorMode?
        if color == "auto" {
            colorMode = nil
        } else if let m = ColorMode(rawValue: color) {
            colorMode = m
        } else {
            throw BcosError("--color '\(color)' must be auto, truecolor, 256, 16 or none")
        }
        let dataPath = data ?? Explore.defaultData
        if data == nil && !FileManager.default.fileExists(atPath: dataPath) {
            throw BcosError("the default dataset '\(dataPath)' is missing; install it with "
                            + "'apt-get install dataset-fashion-mnist' or pass --data DIR")
        }
        let s = try CLI.split(split)
        // An ImageNet-style model given with --model sets the transform that turns a folder of photos into inputs.
        let first = try model.map { try BcosModel.load($0) }
        var dataset = try Dataset.load(dataPath, split: s, transform: first.flatMap { CLI.transform(for: $0) })
        // Class folders named after the --model's classes (a few ImageNet classes, say) take its labels.
        if let first, let model { dataset = try CLI.fitted(first, modelPath: model, dataset, dataPath: dataPath) }
        if let limit {
            guard limit >= 1 else { throw BcosError("--limit must be at least 1") }
            dataset = dataset.prefix(limit)
        }
        var entries = [ModelEntry]()
        if let model {
            guard FileManager.default.fileExists(atPath: model) else { throw BcosError("model '\(model)' not found") }
            entries.append(ModelEntry(name: Explore.name(model), path: model))
        }
        for dir in [models].compactMap({ $0 }) + Explore.shippedModelDirs() {
            for path in Explore.modelFiles(in: dir) where !entries.contains(where: { $0.path == path }) {
                entries.append(ModelEntry(name: Explore.name(path), path: path))
            }
        }
        // Offer only models that fit the dataset; a --model opens first, then B-cos models (B > 1) before the
        // piecewise-linear B = 1 baselines, which explain themselves far less well.
        let fitting = entries.compactMap { e -> (entry: ModelEntry, baseline: Bool)? in
            guard let m = try? BcosModel.load(e.path) else { return e.path == model ? (e, false) : nil }
            guard m.fits(classes: dataset.classes, channels: dataset.channels, height: dataset.height,
                         width: dataset.width) else { return nil }
            return (e, e.path != model && m.config.b == 1)
        }.enumerated().sorted { ($0.element.baseline ? 1 : 0, $0.offset) < ($1.element.baseline ? 1 : 0, $1.offset) }
            .map(\.element.entry)
        guard !fitting.isEmpty else {
            throw BcosError("no model fits dataset '\(dataPath)' (\(dataset.channels)-channel images, "
                            + "\(dataset.classes.count) classes); pass --model or --models DIR, or train one with bcos train")
        }
        let explorer = Explorer(dataset: dataset, datasetName: Explore.name(dataPath) + " \(split)", models: fitting,
                                initial: 0, exportDir: export)
        do {
            try explorer.run(colorOverride: colorMode)
        } catch let error as TerminalError {
            throw BcosError(error.message)
        }
    }

    static func name(_ path: String) -> String {
        let last = (path as NSString).lastPathComponent
        return last.hasSuffix(".safetensors") ? String(last.dropLast(12)) : last
    }

    static func modelFiles(in dir: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return files.filter { $0.hasSuffix(".safetensors") && !$0.hasSuffix(".train.safetensors") }.sorted()
            .map { (dir as NSString).appendingPathComponent($0) }
    }

    /// Where the shipped models are: $BCOS_MODELS, next to the executable's checkout, or ./assets/models.
    static func shippedModelDirs() -> [String] {
        var dirs = [String]()
        if let env = ProcessInfo.processInfo.environment["BCOS_MODELS"] { dirs.append(env) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        for _ in 0..<4 {
            dirs.append((dir as NSString).appendingPathComponent("assets/models"))
            dir = (dir as NSString).deletingLastPathComponent
        }
        dirs.append("assets/models")
        var seen = Set<String>()
        return dirs.filter { FileManager.default.fileExists(atPath: $0) && seen.insert(($0 as NSString).standardizingPath).inserted }
    }
}
