import BcosData
import BcosEngine
import Foundation

/// Shared helpers of the subcommands: image input, file output, JSON printing.
enum CLI {
    /// Loads a PNG as the model's encoded input `[1, C, H, W]`.
    ///
    /// - Parameters:
    ///   - resize: resize to the model's `image_size` (antialiased bilinear) instead of refusing another size.
    ///   - native: run at the image's own size (the 9-layer net is fully convolutional).
    static func loadInput(_ path: String, model: BcosModel, resize: Bool, native: Bool) throws -> Tensor {
        let image = try PNG.read(path)
        let c = model.config.imageChannels
        var planar = c == 3 ? image.planarRGB() : image.planarGray()
        var h = image.height, w = image.width
        let want = model.config.imageSize
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

    /// Throws unless the model takes the dataset's images: channels, class count and image size.
    static func checkFits(_ m: BcosModel, modelPath: String, _ d: Dataset, dataPath: String) throws {
        guard d.channels == m.config.imageChannels else {
            throw BcosError("dataset '\(dataPath)' has \(d.channels)-channel images but model '\(modelPath)' takes "
                            + "\(m.config.imageChannels)")
        }
        guard d.classes.count == m.config.numClasses else {
            throw BcosError("dataset '\(dataPath)' has \(d.classes.count) classes but model '\(modelPath)' has "
                            + "\(m.config.numClasses)")
        }
        try m.validateInput(height: d.height, width: d.width, what: "dataset '\(dataPath)' images")
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

    static func sigmoid(_ v: Float) -> Float { 1 / (1 + expf(-v)) }

    /// A JSON-safe number (NaN and infinities become strings, which JSONSerialization cannot write as numbers).
    static func json(_ v: Float) -> Any { v.isFinite ? Double(v) : "\(v)" }

    static func format(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
