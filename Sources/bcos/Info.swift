import ArgumentParser
import BcosEngine
import Foundation

/// `bcos info MODEL`: architecture, layers with output shapes, parameter count, classes and config.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: layers with output shapes, parameters, classes, config.",
        discussion: """
        Given the training checkpoint `bcos train` keeps next to its --out (NAME.train.safetensors), it describes \
        the run instead: its settings, how far it got, and every finished epoch with loss, accuracies, time and \
        throughput, and the total wall time.
        """)

    @Argument(help: "Model file (.safetensors with bcos.config metadata), or a training checkpoint (.train.safetensors).")
    var model: String

    @Option(name: .long, help: "Input size H,W used to compute the shapes (default: the model's image_size).")
    var size: String?

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        if TrainingState.isCheckpoint(model) {
            try describeRun(try TrainingState.load(model))
            return
        }
        let m = try BcosModel.load(model)
        var hw = m.config.imageSize
        if let size {
            let parts = size.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else {
                throw BcosError("--size '\(size)' must be H,W with positive integers, e.g. 32,32")
            }
            hw = parts
        }
        let shapes = m.network.shapes(input: [1, m.config.inputChannels, hw[0], hw[1]])
        let nodes = m.network.nodes
        let paper = m.paperIndices
        if json {
            let layers: [[String: Any]] = nodes.indices.map { i in
                ["index": i, "name": nodes[i].name, "kind": nodes[i].op.kind, "output_shape": shapes[i],
                 "paper_index": paper[i].map { $0 as Any } ?? NSNull()]
            }
            try CLI.printJSON([
                "model": model, "arch": m.config.arch, "parameters": m.network.parameterCount,
                "classes": m.classes, "layers": layers,
                "config": (try? JSONSerialization.jsonObject(with: Data(m.config.json().utf8))) ?? [:],
            ])
            return
        }
        print("model       \(model)")
        print("arch        \(m.config.arch) (B=\(m.config.b), MaxOut \(m.config.maxOut))")
        print("input       \(m.config.imageChannels == 3 ? "RGB" : "grayscale") \(m.config.imageSize[1])x\(m.config.imageSize[0])"
              + (m.config.addInverse ? ", AddInverse -> \(m.config.inputChannels) channels" : ""))
        print("parameters  \(m.network.parameterCount)")
        print("classes     \(m.classes.count): \(m.classes.prefix(20).joined(separator: ", "))\(m.classes.count > 20 ? ", ..." : "")")
        print("logit       x / \(m.config.logitTemperature) + \(m.config.logitBias)")
        print("")
        // Node number (#N), the paper's running index of B-cos layers (LN), name, shape.
        let nameWidth = max(9, nodes.map(\.name.count).max() ?? 0)
        print("    #     L  \("layer".rightPad(nameWidth)) output shape         op")
        for i in nodes.indices {
            let idx = String(i).leftPad(5), label = paper[i].map { "L\($0)" } ?? ""
            let name = nodes[i].name.rightPad(nameWidth), shape = CLI.format(shapes[i]).rightPad(20)
            print("\(idx) \(label.leftPad(5))  \(name) \(shape) \(nodes[i].op.kind)")
        }
        print("")
        print("config      \(m.config.json())")
    }

    /// A training checkpoint: the run's settings, progress and per-epoch history.
    func describeRun(_ state: TrainingState) throws {
        let s = state.settings, cfg = state.model.config
        let total = state.history.reduce(0) { $0 + $1.seconds } + state.epochSeconds
        if json {
            let epochs: [[String: Any]] = state.history.map { r in
                ["epoch": r.epoch, "loss": r.loss, "train_accuracy": r.trainAccuracy,
                 "test_accuracy": r.testAccuracy as Any? ?? NSNull(), "seconds": r.seconds, "learning_rate": r.learningRate,
                 "images": r.images as Any? ?? NSNull()]
            }
            try CLI.printJSON([
                "checkpoint": model, "arch": cfg.arch, "parameters": state.model.network.parameterCount,
                "config": (try? JSONSerialization.jsonObject(with: Data(cfg.json().utf8))) ?? [:],
                "data": s.data, "epochs": s.epochs, "batch": s.batch, "lr": s.lr, "warmup_epochs": s.warmupEpochs,
                "seed": s.seed, "augment": s.augment, "weight_decay": s.weightDecay,
                "epochs_done": state.epoch, "batches_into_next_epoch": state.batchInEpoch,
                "history": epochs, "wall_seconds": total,
            ])
            return
        }
        print("checkpoint  \(model) (training run)")
        print("model       \(cfg.arch) widths \(cfg.widths) B=\(cfg.b) MaxOut \(cfg.maxOut), "
              + "\(state.model.network.parameterCount) parameters")
        print("data        \(s.data)")
        print("settings    \(s.epochs) epochs, batch \(s.batch), Adam lr \(s.lr) cosine"
              + (s.warmupEpochs > 0 ? " after \(s.warmupEpochs) warm-up epochs" : "")
              + ", seed \(s.seed), \(s.augment ? "crop + flip" : "no augmentation")"
              + (s.weightDecay > 0 ? ", weight decay \(s.weightDecay)" : ""))
        print("progress    \(state.epoch) of \(s.epochs) epochs done"
              + (state.batchInEpoch > 0 ? ", \(state.batchInEpoch) batches into epoch \(state.epoch + 1)" : ""))
        print("wall time   \(Int(total.rounded())) s (\(String(format: "%.1f", total / 3600)) h) of training"
              + " (test evaluations after each epoch not included)")
        guard !state.history.isEmpty else { return }
        print("")
        print("epoch      loss  train acc   test acc  seconds    img/s        lr")
        for r in state.history {
            let rate = r.images.map { String(format: "%.1f", Double($0) / max(r.seconds, 1e-9)) } ?? "-"
            let test = r.testAccuracy.map { String(format: "%.2f%%", $0 * 100) } ?? "-"
            print(String(format: "%5d  %8.4f  %8.2f%%  ", r.epoch, r.loss, r.trainAccuracy * 100) + test.leftPad(9)
                  + String(format: "  %7.0f  ", r.seconds) + rate.leftPad(7) + String(format: "  %.2e", r.learningRate))
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
