import Foundation

/// A value produced by `Unpickler`: only the kinds a PyTorch state dict is made of.
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list([PickleValue])
    /// Dicts and OrderedDicts, keys in insertion order.
    case dict([(key: PickleValue, value: PickleValue)])
    /// A class or function reference that the unpickler allows (module, name); it is never called, only matched.
    case global(module: String, name: String)
    /// A tensor storage named by a persistent id.
    case storage(StorageRef)
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` or `_rebuild_parameter(tensor, ...)`.
    case tensor(TensorRef)
    /// The MARK sentinel on the stack (never escapes `load`).
    case mark

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    var items: [PickleValue]? {
        switch self {
        case .tuple(let a), .list(let a): return a
        default: return nil
        }
    }
}

/// A storage: its key in the checkpoint, element type and element count.
public struct StorageRef: Sendable, Equatable {
    public var key: String
    /// The storage class name, e.g. `FloatStorage`.
    public var type: String
    public var count: Int
}

/// A strided view of a storage.
public struct TensorRef: Sendable, Equatable {
    public var storage: StorageRef
    public var offset: Int
    public var shape: [Int]
    public var strides: [Int]
}

/// A minimal, safe unpickler for PyTorch state dicts (pickle protocols 2 to 5).
///
/// A pickle is a program: the standard unpickler imports any module and calls any callable it names, so loading
/// an untrusted pickle can run arbitrary code. This one executes no Python and imports nothing: it interprets only
/// the opcodes a state dict needs, accepts only the globals a state dict refers to (`collections.OrderedDict`,
/// `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, the `torch.*Storage` classes, `torch.Size`)
/// and refuses everything else — other globals, `REDUCE` of anything but those, object construction (`NEWOBJ`,
/// `INST`, `OBJ`), extensions — naming what it met.
public struct Unpickler {
    /// Turns a persistent id (a tuple) into a value; the caller knows the checkpoint layout.
    public typealias PersistentLoad = (PickleValue) throws -> PickleValue

    /// The deepest nesting of containers accepted (a state dict needs fewer than ten levels).
    static let maxNesting = 1000
    /// The most values one container may hold, counted with memo references unfolded (each shared value counted
    /// every time it is referenced): what walking it would cost.
    static let maxUnfolded = 50_000_000
    /// The most container entries that filling dicts and lists may copy or index in one pickle. A memoised container
    /// (every container, in pickles that torch writes) is copied each time it grows, so growing it one entry at a
    /// time costs the square of its size; torch grows in batches of 1000, which costs a state dict of 10,000 tensors
    /// about 60,000.
    static let maxWork = 4_000_000

    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "builtins.dict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch.Size", "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
        "torch.BoolStorage", "torch.storage.UntypedStorage", "torch.float32",
        "torch._tensor._rebuild_from_type_v2", "builtins.set", "builtins.frozenset",
    ]

    let bytes: [UInt8]
    let name: String
    var pos: Int
    let persistentLoad: PersistentLoad

    /// - Parameters:
    ///   - bytes: the whole buffer; the pickle starts at `start`.
    ///   - name: how to name the file in errors.
    public init(_ bytes: [UInt8], start: Int = 0, name: String, persistentLoad: @escaping PersistentLoad) {
        self.bytes = bytes
        self.pos = start
        self.name = name
        self.persistentLoad = persistentLoad
    }

    /// Where the next pickle would start (after `load` returned).
    public var offset: Int { pos }

    func fail(_ why: String) -> BcosError { BcosError("\(name): \(why)") }

    mutating func byte() throws -> UInt8 {
        guard pos < bytes.count else { throw fail("the pickle is truncated at byte \(pos); the file is incomplete") }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - pos else {
            throw fail("the pickle is truncated at byte \(pos) (needs \(n) more bytes); the file is incomplete")
        }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }

    mutating func uint(_ n: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    mutating func line() throws -> String {
        guard let end = bytes[pos...].firstIndex(of: 0x0A) else { throw fail("the pickle is truncated inside a text line") }
        defer { pos = end + 1 }
        return String(decoding: bytes[pos..<end], as: UTF8.self)
    }

    mutating func text(_ n: Int) throws -> String {
        let raw = try take(n)
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("a string in the pickle is not UTF-8") }
        return s
    }

    /// How deep a value nests containers and how many values it holds with memo references unfolded; kept beside
    /// each stack and memo entry, so that nothing is ever walked to measure it.
    struct Extent {
        var depth = 0
        var unfolded = 1

        /// The extent of a container holding values of extents `items`, on top of `base` (an empty container's).
        init<S: Sequence>(holding items: S, base: Extent = Extent(depth: 1, unfolded: 1)) where S.Element == Extent {
            self = base
            for item in items {
                depth = max(depth, item.depth + 1)
                unfolded = min(unfolded + item.unfolded, Int.max / 2)
            }
        }

        init(depth: Int = 0, unfolded: Int = 1) {
            self.depth = depth
            self.unfolded = unfolded
        }
    }

    /// A dict key compared by value: strings and ints (all a state dict uses); keys of other kinds never match.
    enum Key: Hashable {
        case string(String)
        case int(Int)

        init?(_ v: PickleValue) {
            switch v {
            case .string(let s): self = .string(s)
            case .int(let i): self = .int(i)
            default: return nil
            }
        }
    }

    /// A value on the stack or in the memo, with its extent and, for a dict that has grown, its keys' positions.
    struct Entry {
        var value: PickleValue
        var extent: Extent
        var keys: [Key: Int]?
    }

    /// Runs the pickle to its STOP and returns the result.
    public mutating func load() throws -> PickleValue {
        var stack = [Entry]()
        var marks = [Int]()
        var memo = [Int: Entry]()
        var steps = 0
        // Containers nest at most `maxNesting` deep: freeing a value nested ~100,000 deep overflows the stack (Swift
        // frees indirect enums recursively), and no state dict nests more than a handful of levels. Values shared
        // through the memo can make a container exponentially large when unfolded; `maxUnfolded` refuses that.
        // `work` caps the copying and indexing that growing containers costs.
        var work = 0
        func checked(_ e: Extent) throws -> Extent {
            if e.depth > Self.maxNesting {
                throw fail("containers are nested more than \(Self.maxNesting) deep, which no state dict is; refusing it")
            }
            if e.unfolded > Self.maxUnfolded {
                throw fail("the pickle's containers share too much (memo references); refusing it")
            }
            return e
        }
        func spend(_ n: Int) throws {
            work += n
            guard work <= Self.maxWork else {
                throw fail("the pickle grows its dicts and lists one entry at a time, which no state dict does; refusing it")
            }
        }
        func push(_ v: PickleValue, _ e: Extent = Extent()) { stack.append(Entry(value: v, extent: e)) }
        func pop() throws -> Entry {
            guard let v = stack.popLast() else { throw fail("malformed pickle: stack underflow") }
            return v
        }
        func popMark() throws -> (items: [PickleValue], extent: Extent) {
            guard let m = marks.popLast(), m <= stack.count else { throw fail("malformed pickle: missing MARK") }
            let items = stack[m...].map(\.value)
            let extent = try checked(Extent(holding: stack[m...].lazy.map(\.extent)))
            stack.removeSubrange(m...)
            return (items, extent)
        }
        func top() throws -> Entry {
            guard let v = stack.last else { throw fail("malformed pickle: stack underflow") }
            return v
        }
        /// The entry on top of the stack, taken out so that its containers can grow in place (unless the memo holds
        /// them too, when growing copies them: `spend` counts that).
        func takeTop() -> Entry {
            let entry = stack[stack.count - 1]
            stack[stack.count - 1] = Entry(value: .none, extent: Extent())
            return entry
        }
        /// Puts back the top entry, grown by values of extent `added` (that of a container of them).
        func putTop(_ entry: Entry, _ added: Extent) throws {
            var entry = entry
            entry.extent = try checked(Extent(holding: [Extent(depth: added.depth - 1, unfolded: added.unfolded - 1)],
                                              base: entry.extent))
            stack[stack.count - 1] = entry
        }
        func addItems(_ pairs: [(PickleValue, PickleValue)], _ added: Extent) throws {
            guard case .dict = stack.last?.value else {
                throw fail("malformed pickle: SETITEM on something that is not a dict")
            }
            var entry = takeTop()
            guard case .dict(var d) = entry.value else { return }
            entry.value = .none
            try spend(d.count + pairs.count)
            var keys = entry.keys ?? [:]
            if entry.keys == nil {
                for (i, pair) in d.enumerated() { if let k = Key(pair.key) { keys[k] = i } }
            }
            entry.keys = nil
            for (k, v) in pairs {
                let key = Key(k)
                if let key, let i = keys[key] {
                    d[i].value = v
                } else {
                    if let key { keys[key] = d.count }
                    d.append((k, v))
                }
            }
            entry.value = .dict(d)
            entry.keys = keys
            try putTop(entry, added)
        }
        func append(_ items: [PickleValue], _ added: Extent) throws {
            guard case .list = stack.last?.value else {
                throw fail("unsupported pickle: APPEND on something that is not a list")
            }
            var entry = takeTop()
            guard case .list(var l) = entry.value else { return }
            entry.value = .none
            try spend(l.count + items.count)
            l += items
            entry.value = .list(l)
            try putTop(entry, added)
        }
        while true {
            steps += 1
            guard steps < 100_000_000 else { throw fail("the pickle runs too long; refusing it") }
            guard stack.count < 1_000_000, memo.count < 10_000_000 else { throw fail("the pickle is too large; refusing it") }
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try take(8)  // FRAME: framing only
            case 0x2E: return try pop().value  // STOP
            case 0x28: marks.append(stack.count)  // MARK
            case 0x7D: push(.dict([]))  // EMPTY_DICT
            case 0x5D: push(.list([]))  // EMPTY_LIST
            case 0x29: push(.tuple([]))  // EMPTY_TUPLE
            case 0x8F: push(.list([]))  // EMPTY_SET (as a list)
            case 0x4E: push(.none)  // NONE
            case 0x88: push(.bool(true))  // NEWTRUE
            case 0x89: push(.bool(false))  // NEWFALSE
            case 0x4A: push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x4B: push(.int(Int(try byte())))  // BININT1
            case 0x4D: push(.int(Int(try uint(2))))  // BININT2
            case 0x8A, 0x8B:  // LONG1, LONG4
                let n = op == 0x8A ? Int(try byte()) : Int(try uint(4))
                let raw = try take(n)
                // Wider integers (torch's legacy magic number) are kept as their little-endian bytes.
                if n > 8 {
                    push(.bytes(Array(raw)))
                    continue
                }
                var v: UInt64 = 0
                for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                if n > 0 && n < 8 && raw.last! & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }
                push(.int(Int(Int64(bitPattern: v))))
            case 0x49:  // INT (text)
                let s = try line()
                if s == "01" { push(.bool(true)) } else if s == "00" { push(.bool(false)) } else {
                    guard let v = Int(s) else { throw fail("malformed pickle: INT '\(s)'") }
                    push(.int(v))
                }
            case 0x4C:  // LONG (text)
                let s = try line()
                guard let v = Int(s.hasSuffix("L") ? String(s.dropLast()) : s) else { throw fail("malformed pickle: LONG '\(s)'") }
                push(.int(v))
            case 0x47:  // BINFLOAT: 8 bytes, big-endian
                var v: UInt64 = 0
                for b in try take(8) { v = v << 8 | UInt64(b) }
                push(.float(Double(bitPattern: v)))
            case 0x46:  // FLOAT (text)
                let s = try line()
                guard let v = Double(s) else { throw fail("malformed pickle: FLOAT '\(s)'") }
                push(.float(v))
            case 0x58: push(.string(try text(Int(try uint(4)))))  // BINUNICODE
            case 0x8C: push(.string(try text(Int(try byte()))))  // SHORT_BINUNICODE
            case 0x8D:  // BINUNICODE8
                let n = try uint(8)
                guard n <= UInt64(Int.max) else { throw fail("malformed pickle: string length") }
                push(.string(try text(Int(n))))
            case 0x54: push(.string(try text(Int(try uint(4)))))  // BINSTRING (py2 str)
            case 0x55: push(.string(try text(Int(try byte()))))  // SHORT_BINSTRING
            case 0x42: push(.bytes(Array(try take(Int(try uint(4))))))  // BINBYTES
            case 0x43: push(.bytes(Array(try take(Int(try byte())))))  // SHORT_BINBYTES
            case 0x56:  // UNICODE (raw-unicode-escape text line; plain ASCII names only)
                push(.string(try line()))
            case 0x74:  // TUPLE
                let (items, extent) = try popMark()
                push(.tuple(items), extent)
            case 0x85:  // TUPLE1
                let a = try pop()
                push(.tuple([a.value]), try checked(Extent(holding: [a.extent])))
            case 0x86:  // TUPLE2
                let b = try pop(), a = try pop()
                push(.tuple([a.value, b.value]), try checked(Extent(holding: [a.extent, b.extent])))
            case 0x87:  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                push(.tuple([a.value, b.value, c.value]), try checked(Extent(holding: [a.extent, b.extent, c.extent])))
            case 0x6C:  // LIST
                let (items, extent) = try popMark()
                push(.list(items), extent)
            case 0x64:  // DICT
                let (items, extent) = try popMark()
                guard items.count % 2 == 0 else { throw fail("malformed pickle: DICT with an odd item count") }
                push(.dict([]))
                try addItems(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }, extent)
            case 0x71: memo[Int(try byte())] = try top()  // BINPUT
            case 0x72: memo[Int(try uint(4))] = try top()  // LONG_BINPUT
            case 0x70:  // PUT
                guard let i = Int(try line()) else { throw fail("malformed pickle: PUT") }
                memo[i] = try top()
            case 0x94: memo[memo.count] = try top()  // MEMOIZE
            case 0x68, 0x6A, 0x67:  // BINGET, LONG_BINGET, GET
                let i: Int
                if op == 0x68 { i = Int(try byte()) } else if op == 0x6A { i = Int(try uint(4)) } else {
                    guard let v = Int(try line()) else { throw fail("malformed pickle: GET") }
                    i = v
                }
                guard let v = memo[i] else { throw fail("malformed pickle: memo entry \(i) is missing") }
                stack.append(v)
            case 0x73:  // SETITEM
                let v = try pop(), k = try pop()
                try addItems([(k.value, v.value)], try checked(Extent(holding: [k.extent, v.extent])))
            case 0x75:  // SETITEMS
                let (items, extent) = try popMark()
                guard items.count % 2 == 0 else { throw fail("malformed pickle: SETITEMS with an odd item count") }
                try addItems(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }, extent)
            case 0x61:  // APPEND
                let a = try pop()
                try append([a.value], try checked(Extent(holding: [a.extent])))
            case 0x65:  // APPENDS
                let (items, extent) = try popMark()
                try append(items, extent)
            case 0x90:  // ADDITEMS (sets, kept as lists)
                let (items, extent) = try popMark()
                try append(items, extent)
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32:  // DUP
                stack.append(try top())
            case 0x63:  // GLOBAL 'module\nname\n'
                let module = try line(), name = try line()
                push(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                let n = try pop().value, m = try pop().value
                guard let module = m.string, let name = n.string else { throw fail("malformed pickle: STACK_GLOBAL") }
                push(try global(module, name))
            case 0x52:  // REDUCE
                // The result is made of the arguments' values, so it is no larger than they are.
                let args = try pop(), callable = try pop()
                push(try reduce(callable.value, args.value), args.extent)
            case 0x62:  // BUILD: state for an object; state dicts carry `_metadata` this way, which we do not need.
                let state = try pop()
                _ = state
                _ = try top()
            case 0x51:  // BINPERSID
                let id = try pop()
                push(try persistentLoad(id.value), id.extent)
            case 0x50:  // PERSID (text)
                push(try persistentLoad(.string(try line())))
            case 0x81, 0x92, 0x69, 0x6F:  // NEWOBJ, NEWOBJ_EX, INST, OBJ
                throw fail("refusing the pickle: it constructs objects (opcode 0x\(String(op, radix: 16))), "
                           + "which a state dict never needs; it may not be a state dict, or may run code")
            case 0x82, 0x83, 0x84:  // EXT1, EXT2, EXT4
                throw fail("refusing the pickle: it uses the extension registry (opcode 0x\(String(op, radix: 16)))")
            default:
                throw fail("unsupported pickle opcode 0x\(String(op, radix: 16)) at byte \(pos - 1); "
                           + "this is not a PyTorch state dict we can read")
            }
        }
    }

    func global(_ module: String, _ name: String) throws -> PickleValue {
        let full = "\(module).\(name)"
        guard Self.allowedGlobals.contains(full) else {
            throw fail("refusing the pickle: it refers to '\(full)', which a state dict does not need "
                       + "(a pickle can run code; only tensors, storages and dicts are accepted)")
        }
        return .global(module: module, name: name)
    }

    func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callable, let a = args.items else {
            throw fail("refusing the pickle: REDUCE of something that is not an allowed function")
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict", "builtins.dict":
            if a.isEmpty { return .dict([]) }
            if a.count == 1, case .dict = a[0] { return a[0] }
            if a.count == 1, let pairs = a[0].items {
                return .dict(try pairs.map { p in
                    guard let kv = p.items, kv.count == 2 else { throw fail("malformed pickle: OrderedDict items") }
                    return (kv[0], kv[1])
                })
            }
            throw fail("malformed pickle: OrderedDict arguments")
        case "builtins.set", "builtins.frozenset":
            return .list(a.first?.items ?? [])
        case "torch.Size":
            return .tuple(a.first?.items ?? [])
        case "torch._utils._rebuild_tensor_v2":
            guard a.count >= 4, case .storage(let s) = a[0], let offset = a[1].int, let size = a[2].items,
                  let stride = a[3].items else {
                throw fail("malformed pickle: _rebuild_tensor_v2 arguments")
            }
            let shape = try size.map { v -> Int in
                guard let i = v.int, i >= 0 else { throw fail("malformed pickle: a tensor size is not a count") }
                return i
            }
            let strides = try stride.map { v -> Int in
                guard let i = v.int, i >= 0 else { throw fail("malformed pickle: a tensor stride is not a count") }
                return i
            }
            guard shape.count == strides.count, offset >= 0 else { throw fail("malformed pickle: tensor geometry") }
            return .tensor(TensorRef(storage: s, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter":
            guard let first = a.first, case .tensor = first else { throw fail("malformed pickle: _rebuild_parameter") }
            return first
        case "torch._tensor._rebuild_from_type_v2":
            // (func, type, args, state): a Tensor subclass; accept when it wraps an allowed rebuild.
            guard a.count >= 3 else { throw fail("malformed pickle: _rebuild_from_type_v2") }
            return try reduce(a[0], a[2])
        default:
            throw fail("refusing the pickle: it calls '\(module).\(name)'")
        }
    }
}
