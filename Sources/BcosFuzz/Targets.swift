import BcosData
import BcosEngine

/// One parser of a user's file, fed whole inputs: it must return or throw a one-line error naming the input, never
/// trap, hang or allocate without bound.
struct FuzzTarget: Sendable {
    /// The name on the command line, also the seed folder `Tests/Fuzz/corpus/<name>`.
    let name: String
    /// What it parses.
    let summary: String
    /// Parses `bytes`, calling the input `inputName` in errors.
    let parse: @Sendable (_ bytes: [UInt8], _ inputName: String) throws -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "safetensors", summary: "safetensors header and tensors (Safetensors.parse)") { bytes, name in
            _ = try Safetensors.parse(bytes, name: name)
        },
        FuzzTarget(name: "config", summary: "model config JSON, 'bcos.config' (ModelConfig.parse)") { bytes, name in
            _ = try ModelConfig.parse(json: String(decoding: bytes, as: UTF8.self), source: name)
        },
        FuzzTarget(name: "torch-zip", summary: "torch.save zip checkpoint (TorchCheckpoint.parse)") { bytes, name in
            _ = try TorchCheckpoint.parse(bytes, name: "checkpoint '\(name)'")
        },
        FuzzTarget(name: "torch-legacy", summary: "legacy torch.save pickles (TorchCheckpoint.parse)") { bytes, name in
            _ = try TorchCheckpoint.parse(bytes, name: "checkpoint '\(name)'")
        },
        FuzzTarget(name: "png", summary: "PNG image (PNG.decode, libpng)") { bytes, name in
            _ = try PNG.decode(bytes, name: name)
        },
        FuzzTarget(name: "jpeg", summary: "JPEG image (JPEG.decode, libjpeg-turbo)") { bytes, name in
            _ = try JPEG.decode(bytes, name: name)
        },
        FuzzTarget(name: "idx", summary: "IDX images and labels, plain or gzip (Dataset.parseIDX)") { bytes, name in
            // The bytes as an images file, else as a labels file; the images error is the one reported.
            do {
                _ = try Dataset.parseIDX(bytes, name: name, magic: 0x0000_0803)
            } catch {
                guard (try? Dataset.parseIDX(bytes, name: name, magic: 0x0000_0801)) != nil else { throw error }
            }
        },
        FuzzTarget(name: "cifar", summary: "CIFAR-10 binary batch (Dataset.parseCIFARBatch)") { bytes, name in
            _ = try Dataset.parseCIFARBatch(bytes, name: name, classCount: 10)
        },
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// Runs the parser; a thrown error is a finding only when its message spans lines, holds a control character
    /// (which would drive the terminal) or does not name the input.
    ///
    /// - Returns: the error message, or nil when the input parsed.
    func check(_ bytes: [UInt8], inputName: String) -> String? {
        do {
            try parse(bytes, inputName)
            return nil
        } catch {
            let message = "\(error)"
            precondition(!message.unicodeScalars.contains { $0.properties.generalCategory == .control || Character($0).isNewline },
                         "\(name): a line break or control character in an error message: \(message.debugDescription)")
            precondition(message.contains(inputName), "\(name): an error that does not name the input: \(message)")
            return message
        }
    }
}
