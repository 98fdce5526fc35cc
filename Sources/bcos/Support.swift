import ArgumentParser
import BcosData
import BcosEngine
import BcosExplain
import Foundation

/// The image a command explains: a PNG/JPEG file, or one image of a dataset.
struct InputOptions: ParsableArguments {
    @Option(name: .long, help: "Image (PNG or JPEG).")
    var image: String?

    @Option(name: .long, help: "Instead of --image: a dataset directory (as for `bcos eval`); use with --index.")
    var data: String?

    @Option(name: .long, help: "Index of the image in --data's split.")
    var index: Int?

    @Option(name: .long, help: "Split of --data: test (default) or train.")
    var split: String = "test"

    @Flag(name: .long, help: "Resize an image of another size to the model's image_size (antialiased bilinear).")
    var resize = false

    @Flag(name: .customLong("native-size"), help: "Run at the image's own size (fully convolutional models).")
    var nativeSize = false

    /// An image to explain: encoded input `[1, C, H, W]`, description, stem of output file names, true class.
    typealias Subject = (x: Tensor, image: String, stem: String, label: Int?)

    /// The encoded input `[1, C, H, W]`, a name for output files and messages, and the true class when known.
    func load(for model: BcosModel, modelPath: String) throws -> Subject {
        switch (image, data) {
        case (let path?, nil):
            guard index == nil else { throw BcosError("--index selects an image of --data; with --image leave it out") }
            let x = try CLI.loadInput(path, model: model, resize: resize, native: nativeSize)
            return (x, path, ((path as NSString).lastPathComponent as NSString).deletingPathExtension, nil)
        case (nil, let dir?):
            guard let index else { throw BcosError("--data needs --index N (which image of the \(split) split)") }
            let d = try CLI.fitted(model, modelPath: modelPath, try Dataset.load(dir, split: try CLI.split(split),
                                                                                 transform: CLI.transform(for: model)), dataPath: dir)
            guard index >= 0 && index < d.count else {
                throw BcosError("--index \(index) is out of range; the \(split) split of '\(dir)' has images 0...\(d.count - 1)")
            }
            let x = model.encode(Tensor(shape: [1, d.channels, d.height, d.width], data: d.image(index)))
            return (x, "\(dir) [\(split) \(index)]", "\(split)\(index)", d.labels[index])
        case (nil, nil):
            throw BcosError("give the image: --image FILE, or --data DIR --index N")
        default:
            throw BcosError("give either --image or --data, not both")
        }
    }
}

/// Where and how a command writes its PNGs (`explain`, `neurons`).
struct PictureOptions: ParsableArguments {
    @Option(name: .long, help: "Directory for the PNGs (created if missing).")
    var out: String?

    @Option(name: .long, help: "Odd mean-filter size for the colour explanation's opacity (default 1 below 64 px, else 15).")
    var smooth: Int?

    @Option(name: .long, help: "Integer nearest-neighbour upscaling of the PNGs (default: longer side >= 256 px).")
    var upscale: Int?

    @Flag(name: .customLong("colour-bar"), help: "Add a blue-white-red colour bar with its range under signed maps.")
    var colourBar = false

    @Flag(name: .long, help: "Replace existing PNGs in --out.")
    var force = false

    /// Refuses bad `--smooth` / `--upscale` values whether or not pictures are written (call first in `run`).
    func checkValues() throws {
        if let k = smooth, !(k >= 1 && k <= 255 && k % 2 == 1) {
            throw BcosError("--smooth must be an odd number from 1 to 255, got \(k)")
        }
        if let f = upscale, !(f >= 1 && f <= 64) { throw BcosError("--upscale must be between 1 and 64, got \(f)") }
    }

    /// `--smooth`, or its default for an image of this size.
    func smoothing(height h: Int, width w: Int) throws -> Int {
        try checkValues()
        return smooth ?? (max(h, w) < 64 ? 1 : 15)
    }

    /// `--upscale`, or the default that makes the longer side at least 256 px (at most 64x, for tiny images).
    func factor(height h: Int, width w: Int) throws -> Int {
        try checkValues()
        return upscale ?? min(64, Pictures.defaultUpscale(height: h, width: w))
    }

    /// `out/name`, refusing to replace a file unless `--force` (call only with `--out`).
    func path(_ name: String) throws -> String { try CLI.outputPath(out!, name, force: force) }

    func write(_ canvas: Canvas, to path: String) throws {
        try PNG.write(Image(width: canvas.width, height: canvas.height, rgb: canvas.rgb), to: path, overwrite: force)
    }
}

/// The model and dataset of a command that runs a model over a dataset split (`eval`, `localize`).
struct ModelDataOptions: ParsableArguments {
    @Option(name: .long, help: "Model file (.safetensors).")
    var model: String

    @Option(name: .long, help: "Dataset directory (CIFAR-10 binary, IDX, or image folder).")
    var data: String

    @Option(name: .long, help: "Split: test or train.")
    var split: String = "test"

    @Option(name: .long, help: "Use at most this many images.")
    var limit: Int?

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    /// Refuses a bad `--limit` or `--split` before anything is loaded (call first in `run`).
    @discardableResult
    func checkValues() throws -> Dataset.Split {
        if let limit, limit < 1 { throw BcosError("--limit must be at least 1, got \(limit)") }
        return try CLI.split(split)
    }

    func loadModel() throws -> BcosModel { try BcosModel.load(model) }

    /// `--data`'s split as `model` sees it (`CLI.fitted`), at most `--limit` images.
    func loadDataset(for m: BcosModel, skipBad: Bool = false) throws -> Dataset {
        let d = try CLI.fitted(m, modelPath: model, try Dataset.load(data, split: try checkValues(), skipBad: skipBad,
                                                                     transform: CLI.transform(for: m)), dataPath: data)
        return limit.map { d.prefix($0) } ?? d
    }
}

/// Shared helpers of the subcommands: image input, file output, JSON printing.
enum CLI {
    /// Loads a PNG as the model's encoded input `[1, C, H, W]`.
    ///
    /// - Parameters:
    ///   - resize: resize to the model's `image_size` (antialiased bilinear) instead of refusing another size.
    ///   - native: run at the image's own size (the 9-layer net is fully convolutional).
    static func loadInput(_ path: String, model: BcosModel, resize: Bool, native: Bool) throws -> Tensor {
        var image = try readImage(path)
        let c = model.config.imageChannels
        let want = model.config.imageSize
        // Models with an evaluation transform (ImageNet: shorter side to 256, centre crop 224) get it applied to
        // any image of another size, on the 8-bit image as torchvision does on a PIL image.
        if let side = model.config.resize, !native, image.height != want[0] || image.width != want[1] {
            image = image.resizedShorterSide(to: side).centerCropped(width: want[1], height: want[0])
        }
        var planar = c == 3 ? image.planarRGB() : image.planarGray()
        var h = image.height, w = image.width
        if (h != want[0] || w != want[1]) && !native {
            guard resize else {
                throw BcosError("image '\(path)' is \(w)x\(h) but the model expects \(want[1])x\(want[0]); "
                                + "pass --resize (antialiased bilinear) or --native-size")
            }
            planar = resizedPlanar(planar, channels: c, height: h, width: w, toHeight: want[0], toWidth: want[1])
            h = want[0]
            w = want[1]
        }
        try model.validateInput(height: h, width: w, what: "image '\(path)'")
        return model.encode(Tensor(shape: [1, c, h, w], data: planar))
    }

    /// The split `--split` names.
    static func split(_ text: String) throws -> Dataset.Split {
        guard let s = Dataset.Split(rawValue: text) else { throw BcosError("--split '\(text)' must be test or train") }
        return s
    }

    /// The evaluation transform of a model with one (ImageNet: shorter side to 256, centre crop 224), for loading
    /// image folders of photos of any size.
    static func transform(for m: BcosModel) -> EvalTransform? {
        m.config.resize.map { EvalTransform(resize: $0, width: m.config.imageSize[1], height: m.config.imageSize[0]) }
    }

    /// The dataset as the model sees it: unchanged when the classes agree; when the dataset has other classes,
    /// each of its class folders named after one of the model's classes is relabelled to that class. Throws unless
    /// the model takes the images (`BcosModel.fit`).
    static func fitted(_ m: BcosModel, modelPath: String, _ d: Dataset, dataPath: String) throws -> Dataset {
        guard let relabel = try m.fit(classes: d.classes, channels: d.channels, height: d.height, width: d.width,
                                      modelPath: modelPath, dataPath: dataPath) else { return d }
        return Dataset(classes: m.classes, channels: d.channels, height: d.height, width: d.width,
                       labels: d.labels.map { relabel[$0] }, pixels: d.pixels, source: d.source, skipped: d.skipped)
    }

    /// Creates `dir` if needed and returns the path of `name` inside it, refusing to replace a file unless `force`.
    static func outputPath(_ dir: String, _ name: String, force: Bool) throws -> String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw BcosError("--out '\(dir)' exists and is not a directory") }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw BcosError("cannot create output directory '\(dir)': \(error.localizedDescription)")
            }
        }
        let path = (dir as NSString).appendingPathComponent(name)
        if !force && FileManager.default.fileExists(atPath: path) {
            throw BcosError("refusing to overwrite '\(path)'; choose another --out directory or pass --force")
        }
        return path
    }

    /// Prints a JSON object (sorted keys) on stdout.
    static func printJSON(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// Writes a line to stdout at once (unbuffered), so progress reaches a pipe or log file as it happens.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// A JSON-safe number (NaN and infinities become strings, which JSONSerialization cannot write as numbers).
    static func json(_ v: Float) -> Any { v.isFinite ? Double(v) : "\(v)" }

    static func format(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
