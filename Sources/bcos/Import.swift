import ArgumentParser
import BcosEngine
import Foundation

/// `bcos import`: an official checkpoint (v2 `.pth`, v1 `state_dict.pkl`, or safetensors) as a bcos model file.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert an official B-cos checkpoint (.pth zip, legacy .pkl, or safetensors) into a bcos model.",
        discussion: """
        ARCH is a model of the v2 zoo (\(Zoo.names.filter { !$0.hasPrefix("v1_") }.joined(separator: ", "))) \
        or of the v1 paper (\(Zoo.names.filter { $0.hasPrefix("v1_") }.joined(separator: ", "))). The class count \
        is read from the checkpoint's classifier; 1000 classes get the ImageNet names. --config FILE gives any \
        other network of these families as JSON (see README 'Model format'), e.g. reduced widths. The \
        checkpoint is read by our own unpickler, which accepts only what a state dict is made of and runs no code.
        """)

    @Argument(help: "The checkpoint file.")
    var checkpoint: String

    @Option(name: .long, help: "Zoo architecture name (see below).")
    var arch: String?

    @Option(name: .long, help: "A JSON file with the network's config instead of --arch.")
    var config: String?

    @Option(name: .long, help: "A text file with one class name per line.")
    var classes: String?

    @Option(name: .long, help: "Output model file (.safetensors).")
    var out: String

    @Flag(name: .long, help: "Replace an existing --out.")
    var force = false

    func run() throws {
        if !force && FileManager.default.fileExists(atPath: out) {
            throw BcosError("refusing to overwrite '\(out)'; pass --force or choose another --out")
        }
        var cfg: ModelConfig
        switch (arch, config) {
        case (let name?, nil): cfg = try Zoo.config(name)
        case (nil, let path?):
            let data = try UserFile.read(path, what: "--config")
            cfg = try ModelConfig.parse(json: String(decoding: data, as: UTF8.self), source: path)
        case (nil, nil): throw BcosError("give --arch NAME (one of \(Zoo.names.joined(separator: ", "))) or --config FILE")
        default: throw BcosError("give either --arch or --config, not both")
        }
        let ckpt = try TorchCheckpoint.load(checkpoint)
        let source = "checkpoint '\(checkpoint)'"
        // The class count comes from the classifier (the last conv), so fine-tuned checkpoints import too.
        if arch != nil, let last = Architectures.classifierKey(cfg),
           let t = ckpt.tensors.first(where: { $0.name == last || $0.name == "module." + last })?.tensor,
           t.shape.first.map({ $0 % cfg.maxOut == 0 && $0 / cfg.maxOut != cfg.numClasses }) == true {
            let k = t.shape[0] / cfg.maxOut
            let resize = cfg.resize
            cfg = try Zoo.config(arch!, numClasses: k)
            cfg.resize = resize
        }
        if let classes {
            guard let text = try? String(contentsOfFile: classes, encoding: .utf8) else {
                throw BcosError("cannot read --classes '\(classes)'")
            }
            let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            guard names.count == cfg.numClasses else {
                throw BcosError("--classes '\(classes)' has \(names.count) names but the model has \(cfg.numClasses) classes")
            }
            cfg.classes = names
        }
        let (weights, dropped) = try Zoo.match(ckpt.tensors, skipped: ckpt.skipped, config: cfg, source: source)
        let model = try BcosModel(config: cfg, weights: weights, source: checkpoint)
        try model.save(to: out, overwrite: force)
        CLI.say("read       \(checkpoint) (\(ckpt.format) format, \(ckpt.tensors.count) tensors)")
        CLI.say("arch       \(arch ?? cfg.arch): \(model.network.nodes.count - 1) layers, \(model.network.parameterCount) B-cos weights, "
                + "\(cfg.numClasses) classes, input \(cfg.imageSize[1])x\(cfg.imageSize[0])"
                + (cfg.resize.map { " (resize \($0), centre crop)" } ?? ""))
        if !dropped.isEmpty {
            CLI.say("dropped    \(dropped.count) unused tensors (e.g. \(dropped.prefix(3).joined(separator: ", ")))")
        }
        CLI.say("wrote      \(out)")
    }
}
