import BcosData
import BcosEngine
import BcosExplain
import Foundation

/// A thread-safe mailbox of actions from the workers to the UI loop.
public final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Action] = []

    public init() {}

    public func post(_ a: Action) {
        lock.lock()
        items.append(a)
        lock.unlock()
    }

    public func drain() -> [Action] {
        lock.lock()
        defer { lock.unlock() }
        let out = items
        items = []
        return out
    }
}

/// Runs forward passes and explanations off the UI thread. Predictions run on one queue and explanations on
/// another, so an explanation never waits for a whole dataset's predictions; stale requests are skipped.
public final class Worker: @unchecked Sendable {
    let dataset: Dataset
    let models: [ModelEntry]
    let inbox: Inbox
    private let predictQueue = DispatchQueue(label: "bcos.predict")
    private let explainQueue = DispatchQueue(label: "bcos.explain")
    private let lock = NSLock()
    private var loaded: (generation: Int, model: BcosModel)?
    private var latestGeneration = 0
    private var latestExplain = 0
    private var cache: [String: InspectResult] = [:]
    private var cacheOrder: [String] = []

    public init(dataset: Dataset, models: [ModelEntry], inbox: Inbox) {
        self.dataset = dataset
        self.models = models
        self.inbox = inbox
    }

    private func current() -> (generation: Int, model: BcosModel)? {
        lock.lock()
        defer { lock.unlock() }
        return loaded
    }

    /// Encoded inputs `[n, C, H, W]` of dataset images `range` for `model`.
    func input(_ range: Range<Int>, _ model: BcosModel) -> Tensor {
        model.encode(Tensor(shape: [range.count, dataset.channels, dataset.height, dataset.width],
                            data: dataset.batch(Array(range)).images))
    }

    public func submit(_ effect: Effect) {
        switch effect {
        case .loadModel(let index, let generation):
            lock.lock()
            latestGeneration = generation
            lock.unlock()
            predictQueue.async { self.load(index: index, generation: generation) }
        case .inspect(let image, let target, let generation):
            let ticket = nextTicket()
            explainQueue.async { self.inspect(image: image, target: target, generation: generation, ticket: ticket) }
        case .neurons(let image, let layer, let generation):
            let ticket = nextTicket()
            explainQueue.async { self.neurons(image: image, layer: layer, generation: generation, ticket: ticket) }
        case .methods(let names, let image, let target, let generation):
            let ticket = nextTicket()
            explainQueue.async {
                for name in names { self.method(name, image: image, target: target, generation: generation, ticket: ticket) }
            }
        case .export:
            break  // done by the UI loop, which holds the pictures
        }
    }

    private func nextTicket() -> Int {
        lock.lock()
        defer { lock.unlock() }
        latestExplain += 1
        return latestExplain
    }

    private func isStale(ticket: Int, generation: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return ticket != latestExplain || generation != latestGeneration
    }

    private func load(index: Int, generation: Int) {
        let model: BcosModel
        do {
            model = try BcosModel.load(models[index].path)
            _ = try model.fit(classes: dataset.classes, channels: dataset.channels, height: dataset.height,
                              width: dataset.width, modelPath: models[index].path, dataPath: dataset.source)
        } catch {
            inbox.post(.modelFailed(generation: generation, message: "\(error)"))
            return
        }
        lock.lock()
        loaded = (generation, model)
        cache = [:]
        cacheOrder = []
        lock.unlock()
        let shapes = model.network.shapes(input: [1, model.config.inputChannels, dataset.height, dataset.width])
        let paper = model.paperIndices
        let layers = model.network.nodes.indices.dropFirst().map {
            Layer(name: model.network.nodes[$0].name, shape: shapes[$0], paperIndex: paper[$0])
        }
        inbox.post(.modelReady(generation: generation, layers: layers))
        // Predict everything in batches, newest model only.
        let isCurrent = {
            self.lock.lock()
            defer { self.lock.unlock() }
            return generation == self.latestGeneration
        }
        let batch = model.inferenceBatch(height: dataset.height, width: dataset.width)
        model.logits(count: isCurrent() ? dataset.count : 0, batch: batch, input: { self.input($0, model) }) { range, logits in
            let k = logits.shape[1]
            let results = logits.argmaxRows().enumerated().map { i, best in
                Prediction(predicted: best, confidence: sigmoid(logits.data[i * k + best]))
            }
            inbox.post(.predictions(generation: generation, start: range.lowerBound, results: results))
            return isCurrent()
        }
    }

    private func inspect(image: Int, target: Int?, generation: Int, ticket: Int) {
        guard !isStale(ticket: ticket, generation: generation), let (gen, model) = current(), gen == generation else { return }
        let key = "\(generation)/\(image)/\(target.map(String.init) ?? "top")"
        lock.lock()
        let hit = cache[key]
        lock.unlock()
        if let hit {
            inbox.post(.inspectReady(hit))
            return
        }
        do {
            let v = try ExplanationViews(model: model, input: input(image..<image + 1, model),
                                         target: target.map { .logit($0) } ?? .predicted)
            let e = v.explanation
            guard case .logit(let k) = e.target, let delta = v.deltaMap, let classes = v.deltaClasses else { return }
            let result = InspectResult(
                image: image, modelGeneration: generation, target: k, logits: e.logits,
                colour: v.colour, contributions: v.contributions.rgb, delta: delta.rgb, deltaClasses: classes,
                completenessError: e.completenessError, explainedValue: e.explainedValue,
                width: dataset.width, height: dataset.height)
            lock.lock()
            cache[key] = result
            cacheOrder.append(key)
            if cacheOrder.count > 64 { cache[cacheOrder.removeFirst()] = nil }
            lock.unlock()
            inbox.post(.inspectReady(result))
        } catch {
            inbox.post(.status("cannot explain image \(image): \(error)"))
        }
    }

    private func neurons(image: Int, layer: Int, generation: Int, ticket: Int, count: Int = 12) {
        guard !isStale(ticket: ticket, generation: generation), let (gen, model) = current(), gen == generation else { return }
        let nodes = model.network.nodes
        guard layer + 1 < nodes.count else { return }
        let name = nodes[layer + 1].name
        do {
            let results = try NeuronView.top(count, of: name, model: model, input: input(image..<image + 1, model)).map {
                NeuronResult(channel: $0.neuron.channel, activation: $0.neuron.activation, y: $0.neuron.y, x: $0.neuron.x,
                             colour: $0.colour, contributions: $0.contributions.rgb, field: $0.field,
                             completenessError: $0.explanation.completenessError)
            }
            if isStale(ticket: ticket, generation: generation) { return }
            inbox.post(.neuronsReady(NeuronsResult(image: image, modelGeneration: generation, layer: layer, neurons: results,
                                                   width: dataset.width, height: dataset.height)))
        } catch {
            inbox.post(.status("cannot rank neurons of layer \(name): \(error)"))
        }
    }

    private func method(_ name: String, image: Int, target: Int, generation: Int, ticket: Int) {
        guard !isStale(ticket: ticket, generation: generation), let (gen, model) = current(), gen == generation else { return }
        do {
            let started = Date()
            let view = try MethodView(Methods.named(name, interactive: true), model: model,
                                      input: input(image..<image + 1, model), target: target)
            inbox.post(.methodReady(MethodResult(image: image, modelGeneration: generation, target: target, method: name,
                                                 rgb: view.signed.rgb,
                                                 seconds: Date().timeIntervalSince(started))))
        } catch {
            inbox.post(.status("\(name) failed on image \(image): \(error)"))
        }
    }
}
