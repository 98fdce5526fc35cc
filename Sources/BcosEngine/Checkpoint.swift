import Foundation

/// One finished epoch of a training run.
public struct EpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    public var loss: Double
    public var trainAccuracy: Double
    public var testAccuracy: Double?
    public var seconds: Double
    public var learningRate: Double
    /// Training images seen in the epoch (nil in checkpoints written before it was recorded).
    public var images: Int?

    public init(epoch: Int, loss: Double, trainAccuracy: Double, testAccuracy: Double?, seconds: Double, learningRate: Double,
                images: Int? = nil) {
        self.epoch = epoch
        self.loss = loss
        self.trainAccuracy = trainAccuracy
        self.testAccuracy = testAccuracy
        self.seconds = seconds
        self.learningRate = learningRate
        self.images = images
    }
}

/// The settings of a training run, stored in its checkpoint so that `--resume` continues the same run.
public struct TrainSettings: Sendable, Codable, Equatable {
    public var data: String
    public var epochs: Int
    public var batch: Int
    public var lr: Double
    public var warmupEpochs: Int
    public var seed: UInt64
    public var augment: Bool
    public var weightDecay: Double

    public init(data: String, epochs: Int, batch: Int, lr: Double, warmupEpochs: Int, seed: UInt64, augment: Bool,
                weightDecay: Double) {
        self.data = data
        self.epochs = epochs
        self.batch = batch
        self.lr = lr
        self.warmupEpochs = warmupEpochs
        self.seed = seed
        self.augment = augment
        self.weightDecay = weightDecay
    }
}

/// Everything needed to continue training exactly where it stopped: weights, Adam moments, position and history.
public struct TrainingState: Sendable {
    public var model: BcosModel
    public var optimizer: Adam
    public var settings: TrainSettings
    /// Epochs fully done.
    public var epoch: Int
    /// Batches done within the current epoch (non-zero after an interruption).
    public var batchInEpoch: Int
    /// Partial sums of the interrupted epoch, so its record stays right.
    public var epochLossSum: Double
    public var epochCorrect: Int
    public var epochSeen: Int
    public var epochSeconds: Double
    public var history: [EpochRecord]

    static let metaKey = "bcos.train"

    /// Whether `path` is a safetensors file with a training run's metadata (reads only the header).
    public static func isCheckpoint(_ path: String) -> Bool {
        (try? Safetensors.metadata(path))?[metaKey] != nil
    }

    public init(model: BcosModel, optimizer: Adam, settings: TrainSettings) {
        self.model = model
        self.optimizer = optimizer
        self.settings = settings
        epoch = 0
        batchInEpoch = 0
        epochLossSum = 0
        epochCorrect = 0
        epochSeen = 0
        epochSeconds = 0
        history = []
    }

    private struct Meta: Codable {
        var settings: TrainSettings
        var epoch: Int
        var batchInEpoch: Int
        var epochLossSum: Double
        var epochCorrect: Int
        var epochSeen: Int
        var epochSeconds: Double
        var history: [EpochRecord]
        var adamStep: Int
        var beta1: Double
        var beta2: Double
        var eps: Double
        var weightDecay: Double
    }

    /// Writes the checkpoint (weights, Adam moments `adam.m.KEY` / `adam.v.KEY`, and the run's state as JSON).
    public func save(to path: String) throws {
        var tensors = model.stateDict()
        for (name, t) in model.stateDict() {
            if let m = optimizer.m[name], let v = optimizer.v[name] {
                tensors.append(("adam.m." + name, Tensor(shape: t.shape, data: m)))
                tensors.append(("adam.v." + name, Tensor(shape: t.shape, data: v)))
            }
        }
        let meta = Meta(settings: settings, epoch: epoch, batchInEpoch: batchInEpoch, epochLossSum: epochLossSum,
                        epochCorrect: epochCorrect, epochSeen: epochSeen, epochSeconds: epochSeconds, history: history,
                        adamStep: optimizer.step, beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps,
                        weightDecay: optimizer.weightDecay)
        let json = String(decoding: try JSONEncoder().encode(meta), as: UTF8.self)
        try Safetensors.save(tensors, metadata: [BcosModel.configKey: model.config.json(), TrainingState.metaKey: json],
                             to: path, overwrite: true)
    }

    /// Reads a checkpoint written by `save`.
    public static func load(_ path: String) throws -> TrainingState {
        let contents = try Safetensors.load(path)
        guard let metaText = contents.metadata[metaKey], let cfgText = contents.metadata[BcosModel.configKey] else {
            throw BcosError("'\(path)' is not a bcos training checkpoint (no '\(metaKey)' metadata)")
        }
        guard let meta = try? JSONDecoder().decode(Meta.self, from: Data(metaText.utf8)) else {
            throw BcosError("checkpoint '\(path)': its '\(metaKey)' metadata is not valid; start a new run")
        }
        let cfg = try ModelConfig.parse(json: cfgText, source: path)
        var weights = [String: Tensor]()
        var optimizer = Adam(beta1: meta.beta1, beta2: meta.beta2, eps: meta.eps, weightDecay: meta.weightDecay)
        optimizer.step = meta.adamStep
        for (name, t) in contents.tensors {
            if name.hasPrefix("adam.m.") {
                optimizer.m[String(name.dropFirst(7))] = t.data
            } else if name.hasPrefix("adam.v.") {
                optimizer.v[String(name.dropFirst(7))] = t.data
            } else {
                weights[name] = t
            }
        }
        var state = TrainingState(model: try BcosModel(config: cfg, weights: weights, source: path),
                                  optimizer: optimizer, settings: meta.settings)
        state.epoch = meta.epoch
        state.batchInEpoch = meta.batchInEpoch
        state.epochLossSum = meta.epochLossSum
        state.epochCorrect = meta.epochCorrect
        state.epochSeen = meta.epochSeen
        state.epochSeconds = meta.epochSeconds
        state.history = meta.history
        return state
    }
}

/// Accuracy and confusion matrix of a model on a labelled set.
public struct Evaluation: Sendable {
    /// `confusion[true][predicted]` counts.
    public var confusion: [[Int]]

    public init(classes: Int) { confusion = Array(repeating: Array(repeating: 0, count: classes), count: classes) }

    public mutating func add(truth: Int, predicted: Int) { confusion[truth][predicted] += 1 }

    public var count: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    public var correct: Int { confusion.indices.reduce(0) { $0 + confusion[$1][$1] } }
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    /// Per-class recall (correct / images of that class); nil for a class with no images.
    public var perClass: [Double?] {
        confusion.indices.map { k in
            let total = confusion[k].reduce(0, +)
            return total == 0 ? nil : Double(confusion[k][k]) / Double(total)
        }
    }
}

extension BcosModel {
    /// Index of the largest logit for each image of encoded `[N, C, H, W]`.
    public func predict(_ x: Tensor) -> [Int] { logits(x).argmaxRows() }
}
