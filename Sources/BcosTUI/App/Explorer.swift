import BcosData
import BcosEngine
import BcosExplain
import Foundation

/// The terminal explorer: owns the state, the terminal and the worker, and runs the event loop.
public final class Explorer {
    public let dataset: Dataset
    public private(set) var state: AppState
    let gallery: Gallery
    let inbox = Inbox()
    let worker: Worker
    let exportDir: String

    /// - Parameters:
    ///   - models: the models to offer; `initial` is shown first.
    ///   - exportDir: where `e` writes PNGs (created on first export).
    public init(dataset: Dataset, datasetName: String, models: [ModelEntry], initial: Int, exportDir: String,
                width: Int = 80, height: Int = 24) {
        self.dataset = dataset
        self.exportDir = exportDir
        state = AppState(width: width, height: height, datasetName: datasetName, classes: dataset.classes,
                         labels: dataset.labels, imageWidth: dataset.width, imageHeight: dataset.height, models: models,
                         modelIndex: initial)
        gallery = Explorer.gallery(for: dataset)
        worker = Worker(dataset: dataset, models: models, inbox: inbox)
    }

    /// RGB bytes of every dataset image (grayscale replicated).
    static func gallery(for d: Dataset) -> Gallery {
        Gallery { i in
            let plane = d.height * d.width, base = i * d.channels * plane
            var out = [UInt8](repeating: 0, count: plane * 3)
            for p in 0..<plane {
                for k in 0..<3 { out[p * 3 + k] = d.pixels[base + (d.channels == 3 ? k : 0) * plane + p] }
            }
            return out
        }
    }

    /// Applies an action and carries out the effects it asks for.
    public func dispatch(_ action: Action) {
        for effect in reduce(&state, action) {
            if case .export(let image, let screen) = effect {
                export(image: image, screen: screen)
            } else {
                worker.submit(effect)
            }
        }
    }

    /// Starts loading the first model.
    public func start() {
        state.status = "loading \(state.models[state.modelIndex].name) …"
        worker.submit(.loadModel(index: state.modelIndex, generation: state.modelGeneration))
    }

    /// Applies everything the workers have posted; true if anything arrived.
    @discardableResult
    public func drainInbox() -> Bool {
        let actions = inbox.drain()
        for a in actions { dispatch(a) }
        return !actions.isEmpty
    }

    /// Draws the current state into a fresh buffer.
    public func frame() -> CellBuffer {
        var buffer = CellBuffer(width: state.width, height: state.height)
        render(state, gallery: gallery, into: &buffer)
        return buffer
    }

    /// Runs until the user quits. The terminal is restored on every way out.
    public func run(colorOverride: ColorMode?) throws {
        let terminal = try Terminal(colorOverride: colorOverride)
        defer { terminal.restore() }
        let size = terminal.size
        state.width = size.width
        state.height = size.height
        start()
        var dirty = true
        while !state.quit {
            if dirty {
                terminal.present(frame())
                dirty = false
            }
            if let key = terminal.readKey(timeoutMs: 40) {
                switch key {
                case .resize:
                    let size = terminal.size
                    terminal.invalidate()
                    dispatch(.resize(width: size.width, height: size.height))
                case .ctrlL:
                    terminal.invalidate()
                case .ctrlZ:
                    terminal.suspend()
                default:
                    dispatch(.key(key))
                }
                dirty = true
            }
            if drainInbox() { dirty = true }
        }
    }

    // MARK: export

    /// Writes the current view's pictures (nearest-upscaled to at least 256 px) and a composite panel into the
    /// export directory, never replacing a file (numbered names).
    func export(image: Int, screen: Screen) {
        do {
            try FileManager.default.createDirectory(atPath: exportDir, withIntermediateDirectories: true)
            let w = dataset.width, h = dataset.height
            let factor = Pictures.defaultUpscale(height: h, width: w)
            var written = [String]()
            func save(_ c: Canvas, _ name: String) throws {
                let path = uniquePath(name)
                try PNG.write(Image(width: c.width, height: c.height, rgb: c.rgb), to: path)
                written.append(path)
            }
            func save(_ rgb: [UInt8], _ name: String) throws {
                try save(Canvas(pixels: rgb, width: w, height: h, factor: factor), name)
            }
            let stem = "img\(image)"
            let original = gallery.rgb(image)
            switch screen {
            case .inspect, .browser:
                guard let r = state.inspect, r.image == image else {
                    state.status = "nothing to export yet: the explanation is still being computed"
                    return
                }
                let cls = dataset.classes[r.target].replacingOccurrences(of: "/", with: "-")
                try save(original, "\(stem)_image.png")
                try save(r.colour, "\(stem)_\(cls)_explanation.png")
                try save(r.contributions, "\(stem)_\(cls)_contributions.png")
                try save(r.delta, "\(stem)_delta.png")
                let name = dataset.classes[r.target]
                var panel = [Pictures.Tile(title: "image", rgb: original),
                             Pictures.Tile(title: "explanation " + name, rgb: r.colour),
                             Pictures.Tile(title: "contributions " + name, rgb: r.contributions),
                             Pictures.Tile(title: "top-2 delta", rgb: r.delta)]
                var seen = Set<String>()
                for case let m? in state.methodResults where m.image == image && m.target == r.target
                    && seen.insert(m.method).inserted {
                    try save(m.rgb, "\(stem)_\(cls)_\(m.method).png")
                    panel.append(Pictures.Tile(title: "\(m.method) " + name, rgb: m.rgb))
                }
                try save(Pictures.panel(panel, width: w, height: h, factor: factor), "\(stem)_\(cls)_panel.png")
            case .neurons:
                guard let r = state.neurons, r.image == image, r.neurons.indices.contains(state.neuronCursor) else {
                    state.status = "nothing to export yet: the neurons are still being ranked"
                    return
                }
                let n = r.neurons[state.neuronCursor]
                let layer = state.layers.indices.contains(r.layer) ? state.layers[r.layer].name : "\(r.layer)"
                try save(original, "\(stem)_image.png")
                try save(n.colour, "\(stem)_layer\(layer)_ch\(n.channel).png")
                let tiles = [Pictures.Tile(title: "image", rgb: original)]
                    + r.neurons.map { NeuronView.tile(channel: $0.channel, activation: $0.activation, colour: $0.colour) }
                try save(Pictures.panel(tiles, width: w, height: h, factor: factor), "\(stem)_layer\(layer)_neurons.png")
            }
            state.status = "exported " + written.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
                + " to \(exportDir)"
        } catch {
            state.status = "export failed: \(error)"
        }
    }

    /// `dir/name`, or `dir/stem-1.png`, `stem-2.png`, ... if taken.
    private func uniquePath(_ name: String) -> String {
        let base = (exportDir as NSString).appendingPathComponent(name)
        if !FileManager.default.fileExists(atPath: base) { return base }
        let stem = (base as NSString).deletingPathExtension, ext = (base as NSString).pathExtension
        var i = 1
        while FileManager.default.fileExists(atPath: "\(stem)-\(i).\(ext)") { i += 1 }
        return "\(stem)-\(i).\(ext)"
    }
}
