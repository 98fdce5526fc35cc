import ArgumentParser
import BcosData
import BcosEngine
import Dispatch
import Foundation

/// `bcos train`: train a B-cos network on a dataset, with per-epoch checkpoints and `--resume`.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a B-cos network (BCE on one-hot targets, Adam, cosine schedule, flip + crop augmentation).",
        discussion: """
        DIR is a CIFAR-10 binary folder, an IDX folder (MNIST / Fashion-MNIST) or an image folder with \
        train/ and test/ class subfolders. After every epoch the model is written to --out and a resumable \
        checkpoint next to it (NAME.train.safetensors); Ctrl-C stops after the current batch and saves one too.
        """)

    @Option(name: .long, help: "Dataset directory.")
    var data: String?

    @Option(name: .long, help: "Output model file (.safetensors).")
    var out: String

    @Option(name: .long, help: "Architecture (v1_9layer).")
    var arch: String = "v1_9layer"

    @Option(name: .long, help: "Comma-separated widths of the 8 hidden layers.")
    var widths: String = "64,64,128,128,128,256,256,256"

    @Option(name: .long, help: "B-cos exponent B.")
    var b: Double = 2

    @Option(name: .customLong("max-out"), help: "MaxOut group size M.")
    var maxOut: Int = 2

    @Option(name: .long, help: "v1 layer scale (default 10^(-2+1.5(2.5-B)), the v1 CIFAR-10 value).")
    var scale: Double?

    @Option(name: .long, help: "Logit temperature T (default: the v1 CIFAR-10 value for B, else 1).")
    var temperature: Double?

    @Option(name: .long, help: "Logit bias (default log(1/(K-1))).")
    var bias: Double?

    @Option(name: .long, help: "Epochs.")
    var epochs: Int = 20

    @Option(name: .long, help: "Batch size.")
    var batch: Int = 64

    @Option(name: .long, help: "Peak learning rate (Adam).")
    var lr: Double = 1e-3

    @Option(name: .long, help: "Linear warm-up epochs before the cosine decay.")
    var warmup: Int = 0

    @Option(name: .customLong("weight-decay"), help: "L2 weight decay added to the gradient (torch Adam style).")
    var weightDecay: Double = 0

    @Option(name: .long, help: "Random seed (initialisation, shuffling, augmentation).")
    var seed: UInt64 = 0

    @Flag(name: .customLong("no-augment"), help: "Disable random crop (padding 4) and horizontal flip.")
    var noAugment = false

    @Flag(name: .long, help: "Continue the run saved next to --out.")
    var resume = false

    @Flag(name: .customLong("skip-bad"), help: "Skip unreadable images (and count them) instead of stopping.")
    var skipBad = false

    @Option(name: .customLong("eval-limit"), help: "Evaluate on at most this many test images after each epoch (0: none).")
    var evalLimit: Int?

    @Option(name: .customLong("max-batches"), help: "Stop each epoch after this many batches (for smoke tests).")
    var maxBatches: Int?

    @Option(name: .customLong("stop-after"), help: "Run at most this many epochs now, then stop (continue later with --resume).")
    var stopAfter: Int?

    @Option(name: .customLong("checkpoint-minutes"),
            help: "Also save the resumable checkpoint every this many minutes inside an epoch (0: only after each epoch).")
    var checkpointMinutes: Double = 10

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Replace an existing --out when starting a new run.")
    var force = false

    static func checkpointPath(_ out: String) -> String {
        let base = out.hasSuffix(".safetensors") ? String(out.dropLast(".safetensors".count)) : out
        return base + ".train.safetensors"
    }

    /// Whether the user typed `--name` (alone or as `--name=value`).
    static func given(_ name: String, in arguments: [String] = CommandLine.arguments) -> Bool {
        arguments.contains { $0 == "--\(name)" || $0.hasPrefix("--\(name)=") }
    }

    /// Every option checked before any data is loaded, so a bad value never costs an epoch.
    func checkOptions() throws {
        func positive(_ name: String, _ v: Double) throws {
            guard v.isFinite, v > 0 else { throw BcosError("--\(name) must be a positive number, got \(v)") }
        }
        func atLeast(_ name: String, _ v: Int?, _ least: Int) throws {
            if let v, v < least { throw BcosError("--\(name) must be at least \(least), got \(v)") }
        }
        try atLeast("epochs", epochs, 1)
        try atLeast("batch", batch, 1)
        try atLeast("max-out", maxOut, 1)
        try atLeast("warmup", warmup, 0)
        try atLeast("max-batches", maxBatches, 1)
        try atLeast("stop-after", stopAfter, 1)
        try atLeast("eval-limit", evalLimit, 0)
        try atLeast("threads", threads, 1)
        try positive("lr", lr)
        try positive("b", b)
        if let scale { try positive("scale", scale) }
        if let temperature { try positive("temperature", temperature) }
        if let bias, !bias.isFinite { throw BcosError("--bias must be a finite number, got \(bias)") }
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw BcosError("--weight-decay must be 0 or a positive number, got \(weightDecay)")
        }
        guard checkpointMinutes.isFinite, checkpointMinutes >= 0 else {
            throw BcosError("--checkpoint-minutes must be 0 (only after each epoch) or positive, got \(checkpointMinutes)")
        }
        if !resume && warmup >= epochs {
            throw BcosError("--warmup \(warmup) must be fewer epochs than --epochs \(epochs)")
        }
        // --out and its checkpoint must be writable files in an existing folder (found out now, not after an epoch).
        for path in [out, Train.checkpointPath(out)] {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                throw BcosError("--out: '\(path)' is a directory; give a file name such as model.safetensors")
            }
        }
        let folder = (out as NSString).deletingLastPathComponent.isEmpty ? "." : (out as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw BcosError("--out '\(out)': folder '\(folder)' does not exist; create it first (mkdir -p \(folder))")
        }
        guard FileManager.default.isWritableFile(atPath: folder) else {
            throw BcosError("--out '\(out)': cannot write into folder '\(folder)' (permission denied)")
        }
    }

    func run() throws {
        try checkOptions()
        if let threads { Benchmark.setThreads(threads) }
        let ckpt = Train.checkpointPath(out)
        var state: TrainingState
        if resume {
            guard FileManager.default.fileExists(atPath: ckpt) else {
                throw BcosError("--resume: no checkpoint '\(ckpt)' next to --out '\(out)'; start without --resume")
            }
            state = try TrainingState.load(ckpt)
            try checkUnchanged(state, checkpoint: ckpt)
            if let data, data != state.settings.data { state.settings.data = data }
            if epochs != state.settings.epochs && Self.given("epochs") {
                guard epochs >= state.epoch else {
                    throw BcosError("--epochs \(epochs): the run saved in '\(ckpt)' has already done \(state.epoch) epochs")
                }
                state.settings.epochs = epochs
            }
        } else {
            guard let data else { throw BcosError("--data DIR is required (or --resume)") }
            if !force && FileManager.default.fileExists(atPath: out) {
                throw BcosError("refusing to overwrite '\(out)'; pass --force, --resume, or choose another --out")
            }
            state = try newRun(data: data)
        }
        let settings = state.settings
        CLI.say("loading \(settings.data) ...")
        let train = try Dataset.load(settings.data, split: .train, skipBad: skipBad)
        let test = try? Dataset.load(settings.data, split: .test, skipBad: skipBad)
        let cfg = state.model.config
        guard train.channels == cfg.imageChannels else {
            throw BcosError("dataset '\(settings.data)' has \(train.channels)-channel images but the model takes \(cfg.imageChannels)")
        }
        guard train.classes.count == cfg.numClasses else {
            throw BcosError("dataset '\(settings.data)' has \(train.classes.count) classes but the model has \(cfg.numClasses)")
        }
        guard train.classes == cfg.classes else {
            let differ = zip(train.classes, cfg.classes).enumerated().first { $0.element.0 != $0.element.1 }!
            throw BcosError("dataset '\(settings.data)' names class \(differ.offset) '\(differ.element.0)' but the run in "
                            + "'\(ckpt)' was trained with '\(differ.element.1)' there; resume on the same dataset")
        }
        guard [train.height, train.width] == cfg.imageSize else {
            throw BcosError("dataset '\(settings.data)' has \(train.width)x\(train.height) images but the model takes "
                            + "\(cfg.imageSize[1])x\(cfg.imageSize[0])")
        }
        CLI.say("train: \(train.count) images \(train.width)x\(train.height)x\(train.channels), \(train.classes.count) classes"
              + (train.skipped > 0 ? ", \(train.skipped) skipped" : "")
              + (test.map { "; test: \($0.count)" } ?? "; no test split"))
        CLI.say("model: \(cfg.arch) widths \(cfg.widths) B=\(cfg.b) M=\(cfg.maxOut), \(state.model.network.parameterCount) parameters")

        let stop = StopFlag()
        // Ctrl-C, SIGTERM and a closed terminal all stop after the current batch and leave a resumable checkpoint.
        let signals = [SIGINT, SIGTERM, SIGHUP].map { sig -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            signal(sig, SIG_IGN)
            source.setEventHandler { stop.set() }
            source.resume()
            return source
        }
        defer {
            for (sig, source) in zip([SIGINT, SIGTERM, SIGHUP], signals) {
                source.cancel()
                signal(sig, SIG_DFL)
            }
        }

        let batchesPerEpoch = min(maxBatches ?? Int.max, (train.count + settings.batch - 1) / settings.batch)
        let schedule = CosineSchedule(base: settings.lr, totalSteps: settings.epochs * batchesPerEpoch,
                                      warmupSteps: settings.warmupEpochs * batchesPerEpoch)
        let progress = Progress()
        let lastEpochNow = min(settings.epochs, state.epoch + (stopAfter ?? settings.epochs))
        while state.epoch < lastEpochNow {
            let e = state.epoch
            var order = Array(0..<train.count)
            var shuffle = SplitMix64(seed: settings.seed &+ 0x5EED &+ UInt64(e) &* 0x9E37_79B9)
            order.shuffle(using: &shuffle)
            var started = Date()
            var lastSave = Date()
            while state.batchInEpoch < batchesPerEpoch {
                if checkpointMinutes > 0 && Date().timeIntervalSince(lastSave) >= checkpointMinutes * 60 {
                    let now = Date()
                    state.epochSeconds += now.timeIntervalSince(started)
                    started = now
                    try state.save(to: ckpt)
                    lastSave = Date()
                }
                if stop.isSet {
                    state.epochSeconds += Date().timeIntervalSince(started)
                    try state.save(to: ckpt)
                    progress.finish()
                    CLI.say("interrupted in epoch \(e + 1) after \(state.batchInEpoch) batches; checkpoint '\(ckpt)'."
                          + " Continue with: bcos train --out \(out) --resume")
                    return
                }
                let bi = state.batchInEpoch
                let idx = Array(order[(bi * settings.batch)..<min(train.count, (bi + 1) * settings.batch)])
                var (pixels, labels) = train.batch(idx)
                if settings.augment {
                    var rng = SplitMix64(seed: settings.seed &+ UInt64(e) &* 1_000_003 &+ UInt64(bi))
                    pixels = Augment.cropAndFlip(pixels, count: idx.count, channels: train.channels,
                                                 height: train.height, width: train.width, padding: 4, flip: true, rng: &rng)
                }
                let x = state.model.encode(Tensor(shape: [idx.count, train.channels, train.height, train.width], data: pixels))
                let step = e * batchesPerEpoch + bi
                let rate = schedule.rate(at: step)
                let (loss, logits) = state.model.trainStep(x, labels: labels, optimizer: &state.optimizer, lr: rate)
                let k = logits.shape[1]
                for (i, label) in labels.enumerated() {
                    let row = logits.data[(i * k)..<((i + 1) * k)]
                    if row.indices.max(by: { row[$0] < row[$1] })! - i * k == label { state.epochCorrect += 1 }
                }
                state.epochLossSum += loss * Double(idx.count)
                state.epochSeen += idx.count
                state.batchInEpoch += 1
                let elapsed = state.epochSeconds + Date().timeIntervalSince(started)
                progress.update(epoch: e + 1, of: settings.epochs, seen: state.epochSeen,
                                total: min(train.count, batchesPerEpoch * settings.batch), seconds: elapsed,
                                loss: state.epochLossSum / Double(state.epochSeen), lr: rate)
            }
            progress.finish()
            let seconds = state.epochSeconds + Date().timeIntervalSince(started)
            var testAccuracy: Double?
            if let test, (evalLimit ?? test.count) > 0 {
                testAccuracy = Evaluate.run(state.model, on: test, limit: evalLimit).accuracy
            }
            let record = EpochRecord(epoch: e + 1, loss: state.epochLossSum / Double(max(1, state.epochSeen)),
                                     trainAccuracy: Double(state.epochCorrect) / Double(max(1, state.epochSeen)),
                                     testAccuracy: testAccuracy, seconds: seconds,
                                     learningRate: schedule.rate(at: (e + 1) * batchesPerEpoch - 1), images: state.epochSeen)
            state.history.append(record)
            state.epoch += 1
            state.batchInEpoch = 0
            state.epochLossSum = 0
            state.epochCorrect = 0
            state.epochSeen = 0
            state.epochSeconds = 0
            try state.model.save(to: out, overwrite: true)
            try state.save(to: ckpt)
            CLI.say(String(format: "epoch %d/%d  loss %.4f  train acc %.2f%%  %@  %.0f s (%.1f img/s)", e + 1, settings.epochs,
                         record.loss, record.trainAccuracy * 100,
                         testAccuracy.map { String(format: "test acc %.2f%%", $0 * 100) } ?? "no test", seconds,
                         Double(min(train.count, batchesPerEpoch * settings.batch)) / seconds))
        }
        if state.epoch < settings.epochs {
            CLI.say("stopped after epoch \(state.epoch) of \(settings.epochs); continue with: bcos train --out \(out) --resume")
        } else {
            CLI.say("done: \(out) (checkpoint \(ckpt))")
        }
    }

    /// `--widths` as integers (entries that are not integers are dropped; `newRun` checks for 8 positive ones).
    var widthList: [Int] { widths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    /// `--resume` continues the saved run with its own settings: an option that defines the run may be repeated
    /// with the saved value (rerunning the original command plus `--resume` works) but not changed.
    func checkUnchanged(_ state: TrainingState, checkpoint: String) throws {
        let cfg = state.model.config, saved = state.settings
        let ws = widthList
        let checks: [(String, Bool, String)] = [
            ("arch", arch == cfg.arch, cfg.arch),
            ("widths", ws == cfg.widths, cfg.widths.map(String.init).joined(separator: ",")),
            ("b", b == cfg.b, "\(cfg.b)"),
            ("max-out", maxOut == cfg.maxOut, "\(cfg.maxOut)"),
            ("scale", scale.map { abs($0 - cfg.scale) <= 1e-12 * abs(cfg.scale) } ?? true, "\(cfg.scale)"),
            ("temperature", temperature == nil || temperature == cfg.logitTemperature, "\(cfg.logitTemperature)"),
            ("bias", bias.map { abs($0 - cfg.logitBias) <= 1e-12 } ?? true, "\(cfg.logitBias)"),
            ("batch", batch == saved.batch, "\(saved.batch)"),
            ("lr", lr == saved.lr, "\(saved.lr)"),
            ("warmup", warmup == saved.warmupEpochs, "\(saved.warmupEpochs)"),
            ("weight-decay", weightDecay == saved.weightDecay, "\(saved.weightDecay)"),
            ("seed", seed == saved.seed, "\(saved.seed)"),
            ("no-augment", noAugment == !saved.augment, saved.augment ? "off (augmenting)" : "on"),
        ]
        for (name, same, value) in checks where Self.given(name) && !same {
            throw BcosError("--\(name) differs from the run saved in '\(checkpoint)' (\(value)); --resume continues that "
                            + "run with its own settings: drop --\(name), or start a new run with another --out")
        }
    }

    func newRun(data: String) throws -> TrainingState {
        let ws = widthList
        guard ws.count == 8, ws.allSatisfy({ $0 > 0 }) else {
            throw BcosError("--widths '\(widths)' must be 8 positive integers separated by commas")
        }
        guard arch == "v1_9layer" else { throw BcosError("unknown --arch '\(arch)'; supported: v1_9layer") }
        // Peek at the data to size the model.
        let probe = try Dataset.load(data, split: .train, skipBad: skipBad)
        let k = probe.classes.count
        guard k >= 2 else { throw BcosError("dataset '\(data)' has \(k) class; training needs at least 2") }
        let v1Temperature: [Double: Double] = [1: 1e-3, 1.25: 1e-3, 1.5: 1e-2, 1.75: 1e1, 2: 1e2, 2.25: 1e2, 2.5: 1e3]
        let cfg = ModelConfig(numClasses: k, imageChannels: probe.channels, imageSize: [probe.height, probe.width],
                              widths: ws, b: b, maxOut: maxOut, scale: scale ?? Foundation.pow(10, -2 + 1.5 * (2.5 - b)),
                              logitTemperature: temperature ?? v1Temperature[b] ?? 1,
                              logitBias: bias ?? Foundation.log(1 / Double(k - 1)), classes: probe.classes)
        try cfg.validate("--out '\(out)'")
        let model = try BcosModel.random(config: cfg, seed: seed)
        let settings = TrainSettings(data: data, epochs: epochs, batch: batch, lr: lr, warmupEpochs: warmup, seed: seed,
                                     augment: !noAugment, weightDecay: weightDecay)
        return TrainingState(model: model, optimizer: Adam(weightDecay: weightDecay), settings: settings)
    }
}

/// Set from the SIGINT handler, read by the training loop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// A live progress line on a terminal (rewritten in place), or a line every 10% otherwise.
final class Progress {
    private let tty = isatty(STDOUT_FILENO) != 0
    private var lastPrint = Date.distantPast
    private var lastDecile = -1
    private var active = false

    func update(epoch: Int, of epochs: Int, seen: Int, total: Int, seconds: Double, loss: Double, lr: Double) {
        let rate = Double(seen) / max(seconds, 1e-9)
        let eta = Double(total - seen) / max(rate, 1e-9)
        let line = String(format: "epoch %d/%d  %d/%d  %.1f img/s  loss %.4f  lr %.2e  ETA %@", epoch, epochs, seen,
                          total, rate, loss, lr, Progress.duration(eta))
        if tty {
            guard Date().timeIntervalSince(lastPrint) > 0.5 || seen == total else { return }
            lastPrint = Date()
            FileHandle.standardOutput.write(Data(("\r" + line + "\u{1B}[K").utf8))
            active = true
        } else {
            let decile = seen * 10 / max(1, total)
            guard decile != lastDecile else { return }
            lastDecile = decile
            CLI.say(line)
        }
    }

    func finish() {
        if active { FileHandle.standardOutput.write(Data("\n".utf8)) }
        active = false
        lastDecile = -1
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" : "\(t / 60)m\(String(format: "%02d", t % 60))s"
    }
}

/// Batched evaluation of a model on a dataset.
enum Evaluate {
    static func run(_ model: BcosModel, on data: Dataset, limit: Int? = nil, batch: Int? = nil) -> Evaluation {
        let batch = batch ?? model.inferenceBatch(height: data.height, width: data.width)
        var result = Evaluation(classes: model.config.numClasses)
        model.logits(count: min(data.count, limit ?? data.count), batch: batch, input: {
            model.encode(Tensor(shape: [$0.count, data.channels, data.height, data.width], data: data.batch(Array($0)).images))
        }) {
            range, logits in
            for (label, pred) in zip(data.labels[range], logits.argmaxRows()) { result.add(truth: label, predicted: pred) }
            return true
        }
        return result
    }
}
