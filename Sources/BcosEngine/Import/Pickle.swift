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
    /// The most container entries measured for nesting in one pickle.
    static let maxVisits = 50_000_000

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

    /// Runs the pickle to its STOP and returns the result.
    public mutating func load() throws -> PickleValue {
        var stack = [PickleValue]()
        var marks = [Int]()
        var memo = [Int: PickleValue]()
        var steps = 0
        // Containers nest at most `maxNesting` deep: freeing a value nested ~100,000 deep overflows the stack (Swift
        // frees indirect enums recursively), and no state dict nests more than a handful of levels. Every value is
        // measured as it goes into a container; `visits` caps the total work, which values shared through the memo
        // could otherwise make exponential.
        var visits = 0
        func tooDeep(_ v: PickleValue, _ budget: Int) -> Bool {
            visits += 1
            switch v {
            case .tuple(let a), .list(let a):
                return budget <= 0 || visits > Self.maxVisits || a.contains { tooDeep($0, budget - 1) }
            case .dict(let d):
                return budget <= 0 || visits > Self.maxVisits
                    || d.contains { tooDeep($0.key, budget - 1) || tooDeep($0.value, budget - 1) }
            default: return false
            }
        }
        func contained(_ items: [PickleValue]) throws -> [PickleValue] {
            for item in items where tooDeep(item, Self.maxNesting - 1) {
                throw fail(visits > Self.maxVisits
                           ? "the pickle's containers share too much (memo references); refusing it"
                           : "containers are nested more than \(Self.maxNesting) deep, which no state dict is; refusing it")
            }
            return items
        }
        func pop() throws -> PickleValue {
            guard let v = stack.popLast() else { throw fail("malformed pickle: stack underflow") }
            return v
        }
        func popMark() throws -> [PickleValue] {
            guard let m = marks.popLast(), m <= stack.count else { throw fail("malformed pickle: missing MARK") }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return try contained(items)
        }
        func top() throws -> PickleValue {
            guard let v = stack.last else { throw fail("malformed pickle: stack underflow") }
            return v
        }
        func setTop(_ v: PickleValue) { stack[stack.count - 1] = v }
        func addItems(_ pairs: [(PickleValue, PickleValue)]) throws {
            var target = try top()
            switch target {
            case .dict(var d):
                for (k, v) in pairs {
                    if let i = d.firstIndex(where: { same($0.key, k) }) { d[i].value = v } else { d.append((k, v)) }
                }
                target = .dict(d)
            default: throw fail("malformed pickle: SETITEM on something that is not a dict")
            }
            setTop(target)
        }
        func append(_ items: [PickleValue]) throws {
            guard case .list(var l) = try top() else {
                throw fail("unsupported pickle: APPEND on something that is not a list")
            }
            l += items
            setTop(.list(l))
        }
        while true {
            steps += 1
            guard steps < 100_000_000 else { throw fail("the pickle runs too long; refusing it") }
            guard stack.count < 1_000_000, memo.count < 10_000_000 else { throw fail("the pickle is too large; refusing it") }
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try take(8)  // FRAME: framing only
            case 0x2E: return try pop()  // STOP
            case 0x28: marks.append(stack.count)  // MARK
            case 0x7D: stack.append(.dict([]))  // EMPTY_DICT
            case 0x5D: stack.append(.list([]))  // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x8F: stack.append(.list([]))  // EMPTY_SET (as a list)
            case 0x4E: stack.append(.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x4B: stack.append(.int(Int(try byte())))  // BININT1
            case 0x4D: stack.append(.int(Int(try uint(2))))  // BININT2
            case 0x8A, 0x8B:  // LONG1, LONG4
                let n = op == 0x8A ? Int(try byte()) : Int(try uint(4))
                let raw = try take(n)
                // Wider integers (torch's legacy magic number) are kept as their little-endian bytes.
                if n > 8 {
                    stack.append(.bytes(Array(raw)))
                    continue
                }
                var v: UInt64 = 0
                for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                if n > 0 && n < 8 && raw.last! & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }
                stack.append(.int(Int(Int64(bitPattern: v))))
            case 0x49:  // INT (text)
                let s = try line()
                if s == "01" { stack.append(.bool(true)) } else if s == "00" { stack.append(.bool(false)) } else {
                    guard let v = Int(s) else { throw fail("malformed pickle: INT '\(s)'") }
                    stack.append(.int(v))
                }
            case 0x4C:  // LONG (text)
                let s = try line()
                guard let v = Int(s.hasSuffix("L") ? String(s.dropLast()) : s) else { throw fail("malformed pickle: LONG '\(s)'") }
                stack.append(.int(v))
            case 0x47:  // BINFLOAT: 8 bytes, big-endian
                var v: UInt64 = 0
                for b in try take(8) { v = v << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: v)))
            case 0x46:  // FLOAT (text)
                let s = try line()
                guard let v = Double(s) else { throw fail("malformed pickle: FLOAT '\(s)'") }
                stack.append(.float(v))
            case 0x58: stack.append(.string(try text(Int(try uint(4)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try text(Int(try byte()))))  // SHORT_BINUNICODE
            case 0x8D:  // BINUNICODE8
                let n = try uint(8)
                guard n <= UInt64(Int.max) else { throw fail("malformed pickle: string length") }
                stack.append(.string(try text(Int(n))))
            case 0x54: stack.append(.string(try text(Int(try uint(4)))))  // BINSTRING (py2 str)
            case 0x55: stack.append(.string(try text(Int(try byte()))))  // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(Array(try take(Int(try uint(4))))))  // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(Int(try byte())))))  // SHORT_BINBYTES
            case 0x56:  // UNICODE (raw-unicode-escape text line; plain ASCII names only)
                stack.append(.string(try line()))
            case 0x74: stack.append(.tuple(try popMark()))  // TUPLE
            case 0x85: stack.append(.tuple(try contained([try pop()])))  // TUPLE1
            case 0x86:  // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(.tuple(try contained([a, b])))
            case 0x87:  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(.tuple(try contained([a, b, c])))
            case 0x6C: stack.append(.list(try popMark()))  // LIST
            case 0x64:  // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("malformed pickle: DICT with an odd item count") }
                stack.append(.dict(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }))
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
                _ = try contained([k, v])
                try addItems([(k, v)])
            case 0x75:  // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("malformed pickle: SETITEMS with an odd item count") }
                try addItems(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) })
            case 0x61: try append(try contained([try pop()]))  // APPEND
            case 0x65: try append(try popMark())  // APPENDS
            case 0x90:  // ADDITEMS (sets, kept as lists)
                let items = try popMark()
                try append(items)
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32: stack.append(try top())  // DUP
            case 0x63:  // GLOBAL 'module\nname\n'
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                let n = try pop(), m = try pop()
                guard let module = m.string, let name = n.string else { throw fail("malformed pickle: STACK_GLOBAL") }
                stack.append(try global(module, name))
            case 0x52:  // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args))
            case 0x62:  // BUILD: state for an object; state dicts carry `_metadata` this way, which we do not need.
                let state = try pop()
                _ = state
                _ = try top()
            case 0x51:  // BINPERSID
                stack.append(try persistentLoad(try pop()))
            case 0x50:  // PERSID (text)
                stack.append(try persistentLoad(.string(try line())))
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

/// Dict keys compare by value (strings and ints are all a state dict uses).
private func same(_ a: PickleValue, _ b: PickleValue) -> Bool {
    switch (a, b) {
    case (.string(let x), .string(let y)): return x == y
    case (.int(let x), .int(let y)): return x == y
    default: return false
    }
}
