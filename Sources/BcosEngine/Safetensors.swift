import Foundation
import Foundation

/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {String: String}}`) and raw little-endian data.
public enum Safetensors {
    /// A loaded file: tensors in file order (converted to Float32) and the string metadata.
    public struct Contents: Sendable {
        public var tensors: [(name: String, tensor: Tensor)]
        public var metadata: [String: String]

        public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
            self.tensors = tensors
            self.metadata = metadata
        }

        /// The tensor called `name`, if present.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    }

    static let maxHeaderBytes = 100 << 20

    /// Loads a safetensors file. Supported dtypes: F32, F64, F16, BF16 (all converted to Float32).
    ///
    /// - Throws: `BcosError` naming `path` for a missing, short, truncated or malformed file.
    public static func load(_ path: String) throws -> Contents {
        guard FileManager.default.fileExists(atPath: path) else {
            throw BcosError("file '\(path)' not found")
        }
        return try parse([UInt8](try UserFile.read(path, what: "file")), name: path)
    }

    /// The string metadata of a safetensors file, reading only its header (nil entries are absent keys).
    ///
    /// - Throws: `BcosError` naming `path` when it cannot be read or its header is not a safetensors header.
    public static func metadata(_ path: String) throws -> [String: String] {
        try UserFile.checkRegular(path, what: "file")
        guard let handle = FileHandle(forReadingAtPath: path) else { throw BcosError("cannot read '\(path)': permission denied") }
        defer { try? handle.close() }
        let prefix = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        guard prefix.count == 8 else { throw BcosError("'\(path)' is too short to be a safetensors file") }
        var len: UInt64 = 0
        for i in 0..<8 { len |= UInt64(prefix[i]) << (8 * UInt64(i)) }
        guard len >= 2, len <= UInt64(maxHeaderBytes) else {
            throw BcosError("'\(path)' is not a safetensors file: implausible header length \(len)")
        }
        let header = (try? handle.read(upToCount: Int(len))) ?? Data()
        guard header.count == Int(len), let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw BcosError("'\(path)' is truncated or its header is not valid JSON")
        }
        return object["__metadata__"] as? [String: String] ?? [:]
    }

    /// Parses safetensors bytes; `name` (a path, quoted in messages) or `described` (used as given, e.g.
    /// "checkpoint 'x.pth'") names the file in error messages.
    public static func parse(_ bytes: [UInt8], name: String, described: String? = nil) throws -> Contents {
        let what = described ?? "'\(name)'"
        if bytes.isEmpty { throw BcosError("\(what) is empty (0 bytes); expected a safetensors model file") }
        guard bytes.count >= 8 else {
            throw BcosError("\(what) is too short (\(bytes.count) bytes) to be a safetensors file")
        }
        var len: UInt64 = 0
        for i in 0..<8 { len |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard len <= UInt64(bytes.count - 8) else {
            throw BcosError("\(what) is truncated or not a safetensors file: header claims \(len) bytes "
                            + "but only \(bytes.count - 8) follow")
        }
        guard len <= UInt64(maxHeaderBytes), len >= 2 else {
            throw BcosError("\(what) is not a safetensors file: implausible header length \(len)")
        }
        let headerEnd = 8 + Int(len)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw BcosError("\(what) is not a safetensors file: its header is not valid JSON")
        }
        guard let header = json as? [String: Any] else {
            throw BcosError("\(what) is not a safetensors file: its header is not a JSON object")
        }
        var metadata = [String: String]()
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: Any] else {
                throw BcosError("\(what): '__metadata__' must be an object of strings")
            }
            for (k, v) in m {
                guard let s = v as? String else { throw BcosError("\(what): metadata '\(k)' is not a string") }
                metadata[k] = s
            }
        }
        let bufferSize = bytes.count - headerEnd
        var entries = [(name: String, begin: Int, end: Int, shape: [Int], dtype: String)]()
        for (key, value) in header where key != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsAny = info["data_offsets"] as? [Any], offsAny.count == 2 else {
                throw BcosError("\(what): tensor '\(key)' needs 'dtype', 'shape' and two 'data_offsets'")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let n = v as? Int, n >= 0, n < 1 << 40 else {
                    throw BcosError("\(what): tensor '\(key)' has an invalid shape \(shapeAny)")
                }
                return n
            }
            let offs = try offsAny.map { v -> Int in
                guard let n = v as? Int, n >= 0 else {
                    throw BcosError("\(what): tensor '\(key)' has invalid data_offsets \(offsAny)")
                }
                return n
            }
            let elementSize: Int
            switch dtype {
            case "F32": elementSize = 4
            case "F64": elementSize = 8
            case "F16", "BF16": elementSize = 2
            default:
                throw BcosError("\(what): tensor '\(key)' has dtype \(dtype); only F32, F64, F16 and BF16 are supported")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: elementSize)
            guard !overflow, !byteOverflow else {
                throw BcosError("\(what): tensor '\(key)' has an impossibly large shape \(shape)")
            }
            guard offs[0] <= offs[1], offs[1] <= bufferSize else {
                throw BcosError("\(what) is truncated or corrupt: tensor '\(key)' lies at bytes \(offs[0])..<\(offs[1]) "
                                + "but the data section has \(bufferSize) bytes")
            }
            guard offs[1] - offs[0] == byteCount else {
                throw BcosError("\(what): tensor '\(key)' of shape \(shape) and dtype \(dtype) needs "
                                + "\(byteCount) bytes but its offsets span \(offs[1] - offs[0])")
            }
            entries.append((key, offs[0], offs[1], shape, dtype))
        }
        entries.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.name < $1.name }
        // Tensors may not share bytes (as the format requires): a small file naming one range many times would
        // otherwise decode to gigabytes.
        var end = 0, last = ""
        for e in entries where e.end > e.begin {
            guard e.begin >= end else {
                throw BcosError("\(what) is corrupt: tensors '\(last)' and '\(e.name)' overlap in the data section")
            }
            (end, last) = (e.end, e.name)
        }
        let tensors = entries.map { e -> (name: String, tensor: Tensor) in
            let count = e.shape.reduce(1, *)
            let values = bytes.withUnsafeBufferPointer { buf -> [Float] in
                decode(buf.baseAddress! + headerEnd + e.begin, count: count, dtype: e.dtype)
            }
            return (e.name, Tensor(shape: e.shape, data: values))
        }
        return Contents(tensors: tensors, metadata: metadata)
    }

    private static func decode(_ p: UnsafePointer<UInt8>, count: Int, dtype: String) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let raw = UnsafeRawPointer(p)
        switch dtype {
        case "F32":
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case "F64":
            for i in 0..<count { out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case "F16":
            for i in 0..<count { out[i] = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        default: // BF16
            for i in 0..<count {
                let h = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(h) << 16)
            }
        }
        return out
    }

    /// IEEE binary16 to Float, including subnormals, infinities and NaN.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: Float = (h & 0x8000) != 0 ? -1 : 1
        let exp = Int((h >> 10) & 0x1f), frac = Float(h & 0x3ff)
        switch exp {
        case 0: return sign * frac * powf(2, -24)
        case 31: return frac == 0 ? sign * .infinity : .nan
        default: return sign * (1 + frac / 1024) * powf(2, Float(exp - 15))
        }
    }

    /// Serialises tensors (as F32) and string metadata into safetensors bytes. Tensors are laid out in the given order.
    public static func serialize(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) throws -> [UInt8] {
        var header = [String: Any]()
        var offset = 0
        for (name, t) in tensors {
            let bytes = t.count * 4
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        var len = UInt64(json.count)
        for _ in 0..<8 { out.append(UInt8(len & 0xff)); len >>= 8 }
        out += json
        for (_, t) in tensors {
            for v in t.data {
                var bits = v.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { out += $0 }
            }
        }
        return out
    }

    /// Writes a safetensors file atomically. Refuses to replace an existing file unless `overwrite`.
    public static func save(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String],
                            to path: String, overwrite: Bool = false) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw BcosError("cannot write '\(path)': it is a directory; give a file name such as model.safetensors")
        }
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw BcosError("refusing to overwrite '\(path)'; choose another path or pass --force")
        }
        let folder = (path as NSString).deletingLastPathComponent
        guard folder.isEmpty || FileManager.default.fileExists(atPath: folder) else {
            throw BcosError("cannot write '\(path)': folder '\(folder)' does not exist; create it first")
        }
        let bytes = try serialize(tensors, metadata: metadata)
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw BcosError("cannot write '\(path)': \(error.localizedDescription)")
        }
    }
}
