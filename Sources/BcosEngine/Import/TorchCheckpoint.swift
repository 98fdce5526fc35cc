import Foundation

/// Reads the tensors of a PyTorch state dict without Python: the zip format of `torch.save` (torch >= 1.6: an
/// archive holding `data.pkl` and one raw file per storage), the legacy format (torch < 1.6, as the v1 B-cos
/// checkpoints: consecutive pickles, then the raw storages), and safetensors files.
public enum TorchCheckpoint {
    /// The checkpoint's tensors in state-dict order, as float32; non-float tensors (such as batch norm's
    /// `num_batches_tracked`) are listed in `skipped` by key.
    public struct Contents: Sendable {
        public var tensors: [(name: String, tensor: Tensor)]
        public var skipped: [String]
        /// "zip", "legacy" or "safetensors".
        public var format: String
    }

    public static func load(_ path: String) throws -> Contents {
        guard FileManager.default.fileExists(atPath: path) else { throw BcosError("checkpoint '\(path)' not found") }
        return try parse([UInt8](try UserFile.read(path, what: "checkpoint")), name: "checkpoint '\(path)'")
    }

    public static func parse(_ bytes: [UInt8], name: String) throws -> Contents {
        if bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04 {
            return try parseZip(bytes, name: name)
        }
        if bytes.count >= 2 && bytes[0] == 0x80 && bytes[1] <= 5 {
            return try parseLegacy(bytes, name: name)
        }
        if bytes.count >= 9 && bytes[8] == UInt8(ascii: "{") {
            let c = try Safetensors.parse(bytes, name: name, described: name)
            return Contents(tensors: c.tensors, skipped: [], format: "safetensors")
        }
        throw BcosError("\(name) is not a PyTorch checkpoint (zip or legacy torch.save format) nor a safetensors file")
    }

    // MARK: zip format

    static func parseZip(_ bytes: [UInt8], name: String) throws -> Contents {
        let zip = try ZipArchive(bytes, name: name)
        guard let pkl = zip.entries.keys.filter({ $0.hasSuffix("/data.pkl") || $0 == "data.pkl" }).sorted().first else {
            throw BcosError("\(name) is a zip archive without data.pkl; not a torch.save checkpoint")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        if let order = try? zip.read(prefix + "byteorder"), String(decoding: order, as: UTF8.self) != "little" {
            throw BcosError("\(name) was written on a big-endian machine; only little-endian checkpoints are supported")
        }
        var unpickler = Unpickler(Array(try zip.read(pkl)), name: name) { pid in
            guard let t = pid.items, t.count >= 5, t[0].string == "storage", case .global(_, let type) = t[1],
                  let key = t[2].string, let count = t[4].int, count >= 0 else {
                throw BcosError("\(name): unexpected persistent id in data.pkl; not a state dict")
            }
            return .storage(StorageRef(key: key, type: type, count: count))
        }
        let root = try unpickler.load()
        return try collect(root, name: name, format: "zip", fileSize: bytes.count) { ref in
            let raw = try zip.read(prefix + "data/" + ref.key)
            return (raw, 0)
        }
    }

    // MARK: legacy format

    /// The magic number torch's legacy format starts with (0x1950a86a20f9469cfc6c), as LONG1's little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    static func parseLegacy(_ bytes: [UInt8], name: String) throws -> Contents {
        var storages = [String: StorageRef]()
        let pid: Unpickler.PersistentLoad = { pid in
            guard let t = pid.items, t.count >= 5, t[0].string == "storage", case .global(_, let type) = t[1],
                  let key = t[2].string, let count = t[4].int, count >= 0 else {
                throw BcosError("\(name): unexpected persistent id; not a state dict")
            }
            if t.count > 5, case .tuple = t[5] {
                throw BcosError("\(name): storage views (legacy torch < 0.4 checkpoints) are not supported")
            }
            let ref = StorageRef(key: key, type: type, count: count)
            storages[key] = ref
            return .storage(ref)
        }
        var u = Unpickler(bytes, name: name, persistentLoad: pid)
        let magic = try u.load()
        guard case .bytes(let m) = magic, m == legacyMagic else {
            throw BcosError("\(name) is a pickle but not a torch.save checkpoint (no magic number); "
                            + "if it is a plain pickle of tensors, save it with torch.save or as safetensors")
        }
        var next = Unpickler(bytes, start: u.offset, name: name, persistentLoad: pid)
        guard let version = try next.load().int, version == 1001 else {
            throw BcosError("\(name): unsupported legacy checkpoint protocol version")
        }
        next = Unpickler(bytes, start: next.offset, name: name, persistentLoad: pid)
        if case .dict(let info) = try next.load(),
           let le = info.first(where: { $0.key.string == "little_endian" })?.value, le.int == 0 {
            throw BcosError("\(name) was written on a big-endian machine; only little-endian checkpoints are supported")
        }
        next = Unpickler(bytes, start: next.offset, name: name, persistentLoad: pid)
        let root = try next.load()
        next = Unpickler(bytes, start: next.offset, name: name, persistentLoad: pid)
        guard let keys = try next.load().items?.compactMap(\.string) else {
            throw BcosError("\(name): the list of storage keys is missing; the file is incomplete")
        }
        // Each storage: an 8-byte little-endian element count, then the raw elements.
        var offsets = [String: Int]()
        var pos = next.offset
        for key in keys {
            guard pos + 8 <= bytes.count else {
                throw BcosError("\(name) is truncated: storage '\(key)' is missing; the file is incomplete")
            }
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
            pos += 8
            let size = try elementSize(storages[key]?.type ?? "FloatStorage", name: name)
            guard n <= UInt64(bytes.count), Int(n) * size <= bytes.count - pos else {
                throw BcosError("\(name) is truncated: storage '\(key)' needs \(n) elements; the file is incomplete")
            }
            offsets[key] = pos
            pos += Int(n) * size
        }
        return try collect(root, name: name, format: "legacy", fileSize: bytes.count) { ref in
            guard let start = offsets[ref.key] else {
                throw BcosError("\(name): storage '\(ref.key)' is referenced but not stored; the file is incomplete")
            }
            return (ArraySlice(bytes[start...]), 0)
        }
    }

    // MARK: shared

    /// The most tensor values materialised per byte of a checkpoint: float16 storage holds 0.5, and sharing a
    /// storage between a few tensors multiplies that.
    static let maxValuesPerByte = 4

    static func elementSize(_ type: String, name: String) throws -> Int {
        switch type {
        case "FloatStorage", "IntStorage": return 4
        case "DoubleStorage", "LongStorage": return 8
        case "HalfStorage", "BFloat16Storage", "ShortStorage": return 2
        case "CharStorage", "ByteStorage", "BoolStorage": return 1
        default: throw BcosError("\(name): storage type '\(type)' is not supported")
        }
    }

    /// The state dict inside `root` (the root itself, or under "state_dict" / "model"), tensors materialised.
    ///
    /// Tensors may share a storage (tied weights, views) or repeat its elements (stride 0), so they can hold more
    /// values than the file stores; at most `maxValuesPerByte` per byte of the `fileSize`-byte file (plus 1M) are
    /// materialised, so that a small file cannot allocate without bound.
    static func collect(_ root: PickleValue, name: String, format: String, fileSize: Int,
                        storage: (StorageRef) throws -> (ArraySlice<UInt8>, Int)) throws -> Contents {
        guard case .dict(var pairs) = root else {
            throw BcosError("\(name) does not hold a dict; save the model's state_dict() (not the model object)")
        }
        for wrapper in ["state_dict", "model", "model_state_dict"] {
            if let inner = pairs.first(where: { $0.key.string == wrapper })?.value, case .dict(let d) = inner,
               d.contains(where: { if case .tensor = $0.value { return true } else { return false } }) {
                pairs = d
                break
            }
        }
        var tensors = [(name: String, tensor: Tensor)]()
        var skipped = [String]()
        var values = 0
        let maxValues = fileSize.multipliedReportingOverflow(by: maxValuesPerByte).partialValue + (1 << 20)
        for (k, v) in pairs {
            guard let key = k.string else { continue }
            guard case .tensor(let ref) = v else {
                skipped.append(key)
                continue
            }
            let floats = ["FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage"]
            guard floats.contains(ref.storage.type) else {
                skipped.append(key)
                continue
            }
            let count = ref.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max / 2 : $0 * $1 }
            values += min(count, Int.max / 2)
            guard values <= maxValues else {
                throw BcosError("\(name): its tensors hold more values than its \(fileSize) bytes can store "
                                + "(up to \(maxValues) counting shared and repeated storage); the file is corrupt")
            }
            let (raw, base) = try storage(ref.storage)
            tensors.append((key, try materialise(ref, raw: raw, base: base, name: "\(name), tensor '\(key)'")))
        }
        guard !tensors.isEmpty else { throw BcosError("\(name) holds no float tensors; is it a state dict?") }
        return Contents(tensors: tensors, skipped: skipped, format: format)
    }

    /// A strided view of a storage as a contiguous float32 tensor.
    static func materialise(_ ref: TensorRef, raw: ArraySlice<UInt8>, base: Int, name: String) throws -> Tensor {
        let size = try elementSize(ref.storage.type, name: name)
        let count = ref.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard count < 1 << 34 else { throw BcosError("\(name) is impossibly large") }
        let reachesPast = BcosError("\(name) reaches past its storage; the file is truncated or corrupt")
        // The last element's index, offset + sum((n - 1) * stride): sizes, strides and offset come from the file,
        // so each step is checked for overflow.
        var last = ref.offset
        for (n, s) in zip(ref.shape, ref.strides) where n > 0 {
            let (step, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2, sum < Int.max else { throw reachesPast }
            last = sum
        }
        let needed = count == 0 ? 0 : last + 1
        guard needed <= ref.storage.count, needed <= (raw.count - base) / size else { throw reachesPast }
        var out = [Float](repeating: 0, count: count)
        let start = raw.startIndex + base
        raw.withUnsafeBufferPointer { buf in
            let p = buf.baseAddress! + (start - raw.startIndex)
            func value(_ i: Int) -> Float {
                let q = p + i * size
                switch ref.storage.type {
                case "FloatStorage": return Float(bitPattern: UInt32(q[0]) | UInt32(q[1]) << 8 | UInt32(q[2]) << 16 | UInt32(q[3]) << 24)
                case "DoubleStorage":
                    var b: UInt64 = 0
                    for j in 0..<8 { b |= UInt64(q[j]) << (8 * UInt64(j)) }
                    return Float(Double(bitPattern: b))
                case "HalfStorage": return Safetensors.halfToFloat(UInt16(q[0]) | UInt16(q[1]) << 8)
                default: return Float(bitPattern: (UInt32(q[0]) | UInt32(q[1]) << 8) << 16)  // BFloat16
                }
            }
            let dims = ref.shape.count
            if dims == 0 {
                if count == 1 { out[0] = value(ref.offset) }
                return
            }
            // The odometer wraps (&+): it steps past a size-1 dimension by a stride that the file may make huge and
            // steps back at once, and every index it reads lies in 0...last, checked above.
            var index = [Int](repeating: 0, count: dims)
            var src = ref.offset
            for i in 0..<count {
                out[i] = value(src)
                var d = dims - 1
                while d >= 0 {
                    index[d] += 1
                    src &+= ref.strides[d]
                    if index[d] < ref.shape[d] { break }
                    src &-= ref.strides[d] &* ref.shape[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return Tensor(shape: ref.shape, data: out)
    }
}

/// The entries of a zip archive (stored, uncompressed: what torch.save writes), zip64 included.
struct ZipArchive {
    struct Entry {
        var offset: Int
        var size: Int
        var method: Int
    }

    let bytes: [UInt8]
    let name: String
    var entries = [String: Entry]()

    init(_ bytes: [UInt8], name: String) throws {
        self.bytes = bytes
        self.name = name
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        func u64(_ i: Int) -> Int { u32(i) | u32(i + 4) << 32 }
        let truncated = BcosError("\(name) is a truncated or corrupt zip archive (no central directory); the file is incomplete")
        // End of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes.
        var eocd = -1
        var i = bytes.count - 22
        while i >= max(0, bytes.count - 65_557) {
            if bytes[i] == 0x50 && bytes[i + 1] == 0x4B && bytes[i + 2] == 0x05 && bytes[i + 3] == 0x06 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw truncated }
        var count = u16(eocd + 10), dirOffset = u32(eocd + 16)
        if count == 0xFFFF || dirOffset == 0xFFFF_FFFF {
            // zip64: the locator sits just before the EOCD and points at the zip64 EOCD record.
            let loc = eocd - 20
            guard loc >= 0, u32(loc) == 0x0706_4B50 else { throw truncated }
            // 64-bit fields read as negative when their top bit is set; bounds are compared by subtraction so that
            // none of them can overflow.
            let rec = u64(loc + 8)
            guard rec >= 0, rec <= bytes.count - 56, u32(rec) == 0x0606_4B50 else { throw truncated }
            count = u64(rec + 32)
            dirOffset = u64(rec + 48)
        }
        guard count >= 0 else { throw truncated }
        var p = dirOffset
        for _ in 0..<count {
            guard p >= 0, p <= bytes.count - 46, u32(p) == 0x0201_4B50 else { throw truncated }
            let method = u16(p + 10)
            var size = u32(p + 20)
            let nameLen = u16(p + 28), extraLen = u16(p + 30), commentLen = u16(p + 32)
            var local = u32(p + 42)
            guard p + 46 + nameLen + extraLen <= bytes.count else { throw truncated }
            let entryName = String(decoding: bytes[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            // zip64 extra field: 64-bit values for the fields that read 0xFFFFFFFF, in order.
            var e = p + 46 + nameLen
            let end = e + extraLen
            while e + 4 <= end {
                let id = u16(e), len = u16(e + 2)
                if id == 1 {
                    var q = e + 4
                    if u32(p + 24) == 0xFFFF_FFFF, q + 8 <= end { q += 8 }  // uncompressed size
                    if size == 0xFFFF_FFFF, q + 8 <= end { size = u64(q); q += 8 }
                    if local == 0xFFFF_FFFF, q + 8 <= end { local = u64(q) }
                }
                e += 4 + len
            }
            guard local >= 0, local <= bytes.count - 30, u32(local) == 0x0403_4B50 else { throw truncated }
            let data = local + 30 + u16(local + 26) + u16(local + 28)
            guard size >= 0, data <= bytes.count, size <= bytes.count - data else { throw truncated }
            entries[entryName] = Entry(offset: data, size: size, method: method)
            p += 46 + nameLen + extraLen + commentLen
        }
    }

    func read(_ entry: String) throws -> ArraySlice<UInt8> {
        guard let e = entries[entry] else { throw BcosError("\(name): the archive has no entry '\(entry)'; the file is incomplete") }
        guard e.method == 0 else {
            throw BcosError("\(name): entry '\(entry)' is compressed (method \(e.method)); torch.save writes stored entries only")
        }
        return bytes[e.offset..<(e.offset + e.size)]
    }
}
