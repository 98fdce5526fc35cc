import BcosEngine
import Foundation
import XCTest

/// Inputs that trapped or hung the checkpoint reader, found while fuzzing it (docs/TESTING.md, "Fuzzing"); each
/// must now fail with one line naming the file, quickly. Replay any of them with `.build/debug/bcos-fuzz`.
final class FuzzFindingsTests: XCTestCase {
    /// A pickle integer of any value (LONG1, 8 bytes).
    func long(_ v: Int) -> [UInt8] { [0x8A, 0x08] + (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    func unicode(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return [0x58] + (0..<4).map { UInt8(truncatingIfNeeded: b.count >> (8 * $0)) } + b
    }

    /// A legacy torch.save checkpoint with one float tensor `w` viewing storage "0" (`count` elements declared, 4
    /// stored: 1, 2, 3, 4) at `offset` with `shape` and `strides`.
    func legacy(offset: Int, shape: [Int], strides: [Int], count: Int = 4) -> [UInt8] {
        let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
        var b: [UInt8] = [0x80, 0x02, 0x8A, 0x0A] + magic + [0x2E]  // magic number
        b += [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]  // protocol version 1001
        b += [0x80, 0x02, 0x7D, 0x2E]  // sys info: {}
        b += [0x80, 0x02, 0x7D] + unicode("w") + Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
        b += [0x28] + unicode("storage") + Array("ctorch\nFloatStorage\n".utf8) + unicode("0") + unicode("cpu")
        b += long(count) + [0x74, 0x51]  // (storage, FloatStorage, "0", "cpu", count), BINPERSID
        b += long(offset) + [0x28] + shape.flatMap(long) + [0x74] + [0x28] + strides.flatMap(long) + [0x74]
        b += [0x74, 0x52, 0x73, 0x2E]  // args tuple, REDUCE, SETITEM, STOP
        b += [0x80, 0x02, 0x28] + unicode("0") + [0x6C, 0x2E]  // storage keys: ["0"]
        b += [4, 0, 0, 0, 0, 0, 0, 0] + [Float(1), 2, 3, 4].flatMap { v in
            (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) }
        }
        return b
    }

    func assertRefused(_ bytes: [UInt8], _ mention: String, within seconds: Double = 10,
                       file: StaticString = #filePath, line: UInt = #line) {
        let start = Date()
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes, name: "checkpoint 'x.pth'"), file: file, line: line) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("x.pth") && text.contains(mention) && !text.contains("\n"), text,
                          file: file, line: line)
        }
        // Each took minutes before the fix (quadratic or exponential); the bound is loose for loaded CI machines.
        XCTAssertLessThan(Date().timeIntervalSince(start), seconds, file: file, line: line)
    }

    func testTheHelperBuildsAValidCheckpoint() throws {
        let c = try TorchCheckpoint.parse(legacy(offset: 1, shape: [2], strides: [2]), name: "checkpoint 'x.pth'")
        XCTAssertEqual(c.tensors.first?.tensor.data, [2, 4])
    }

    /// A stride past Int.max / 2 on a size-1 dimension trapped (integer overflow) while stepping through the
    /// storage; it never reaches another element, so the tensor reads fine.
    func testHugeStrideOfASizeOneDimensionReadsFine() throws {
        let c = try TorchCheckpoint.parse(legacy(offset: 1, shape: [1, 2], strides: [Int.max, 1]),
                                          name: "checkpoint 'x.pth'")
        XCTAssertEqual(c.tensors.first?.tensor.data, [2, 3])
    }

    /// offset + (size - 1) * stride and the byte count of a huge declared storage overflowed (traps).
    func testOverflowingTensorGeometryIsRefused() {
        assertRefused(legacy(offset: 1, shape: [2], strides: [Int.max]), "reaches past its storage")
        assertRefused(legacy(offset: Int.max - 1, shape: [3], strides: [1]), "reaches past its storage")
        assertRefused(legacy(offset: 1 << 61, shape: [1], strides: [1], count: 1 << 62), "reaches past its storage")
    }

    /// A zip64 end record whose entry count or central directory offset has its top bit set (negative as Int)
    /// trapped: an empty range with a negative bound, and an overflowing bounds check.
    func testZip64FieldsWithTheTopBitSetAreRefused() {
        func zip64(count: UInt64, directory: UInt64) -> [UInt8] {
            func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
            let record = Array("PK\u{06}\u{06}".utf8) + [UInt8](repeating: 0, count: 28) + le(count, 8)
                + [UInt8](repeating: 0, count: 8) + le(directory, 8)
            let locator = Array("PK\u{06}\u{07}".utf8) + le(0, 4) + le(4, 8) + le(0, 4)
            let end = Array("PK\u{05}\u{06}".utf8) + le(0, 6) + le(0xFFFF, 2) + le(0, 4) + le(0xFFFF_FFFF, 4) + le(0, 2)
            return Array("PK\u{03}\u{04}".utf8) + record + locator + end
        }
        assertRefused(zip64(count: 0x8000_0000_0000_0001, directory: 0), "corrupt zip archive")
        assertRefused(zip64(count: 1, directory: 0x7FFF_FFFF_FFFF_FFF0), "corrupt zip archive")
    }

    /// Growing a list or dict one entry at a time copied (and, for dicts, searched) it each time: a 1 MB pickle
    /// took over two minutes. With or without the memo holding the container, it is refused in milliseconds.
    func testPicklesGrowingContainersOneEntryAtATimeAreRefusedQuickly() {
        let appends: [UInt8] = Array([[UInt8]](repeating: [0x4E, 0x61], count: 200_000).joined())  // None, APPEND
        let setitems = (0..<140_000).flatMap { i -> [UInt8] in  // BININT i, None, SETITEM
            [0x4A] + (0..<4).map { UInt8(truncatingIfNeeded: i >> (8 * $0)) } + [0x4E, 0x73]
        }
        for memo: [UInt8] in [[], [0x71, 0x00]] {  // BINPUT 0 keeps a second reference to the container
            let list: [UInt8] = [0x80, 0x02, 0x5D] + memo + appends + [0x2E]
            let dict: [UInt8] = [0x80, 0x02, 0x7D] + memo + setitems + [0x2E]
            assertRefused(list, "one entry at a time")
            assertRefused(dict, "one entry at a time")
        }
    }

    /// Tuples sharing their halves through the memo 60 times over were walked to the 50M-visit limit (29 s in a
    /// debug build) before being refused; the unfolded size is now kept beside each value.
    func testExponentiallySharedPickleIsRefusedWithoutWalkingIt() {
        var shared: [UInt8] = [0x80, 0x02, 0x5D, 0x94]  // [] memoised as 0
        for k in 1...60 { shared += [0x68, UInt8(k - 1), 0x68, UInt8(k - 1), 0x86, 0x94] }  // (m[k-1], m[k-1]) as k
        shared.append(0x2E)
        assertRefused(shared, "share too much", within: 1)
    }

    /// What torch writes, an OrderedDict grown by SETITEMS in batches of 1000, stays far inside the work limit.
    func testLargeStateDictsGrownInBatchesStillLoad() throws {
        var b: [UInt8] = [0x80, 0x02] + Array("ccollections\nOrderedDict\n".utf8) + [0x29, 0x52, 0x71, 0x00]
        let n = 30_000
        for batch in stride(from: 0, to: n, by: 1000) {
            b.append(0x28)
            for i in batch..<min(n, batch + 1000) { b += unicode("layer\(i).weight") + long(i) }
            b.append(0x75)
        }
        b.append(0x2E)
        var u = Unpickler(b, name: "big") { $0 }
        guard case .dict(let pairs) = try u.load() else { return XCTFail("not a dict") }
        XCTAssertEqual(pairs.count, n)
        guard case .int(let last) = pairs.last?.value else { return XCTFail("the last value is not an int") }
        XCTAssertEqual(last, n - 1)
    }

    /// Names quoted from a file (a tensor key, a dtype, a config key or arch, a pickle global or text line) carried
    /// their line breaks and control characters into the message, which then spanned lines or drove the terminal;
    /// they are escaped.
    func testMessagesQuotingNamesWithLineBreaksStayOneLine() {
        func safetensors(_ header: String, data: Int = 0) -> [UInt8] {
            let h = Array(header.utf8)
            return (0..<8).map { UInt8(truncatingIfNeeded: h.count >> (8 * $0)) } + h + [UInt8](repeating: 0, count: data)
        }
        func oneLine(_ body: () throws -> Void, _ escaped: String, line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) {
                let text = "\($0)"
                XCTAssertFalse(text.unicodeScalars.contains { $0.properties.generalCategory == .control }, text, line: line)
                XCTAssertTrue(text.contains(escaped) && text.contains("x.bin"), text, line: line)
            }
        }
        oneLine({ _ = try Safetensors.parse(safetensors(#"{"a\nb": 5}"#), name: "x.bin") }, #"'a\nb'"#)
        oneLine({ _ = try Safetensors.parse(safetensors(#"{"w": {"dtype": "X\rY", "shape": [1], "data_offsets": [0, 4]}}"#,
                                                        data: 4), name: "x.bin") }, #"X\rY"#)
        oneLine({ _ = try ModelConfig.parse(json: #"{"arch": "v1_9layer", "x\ny": 1}"#, source: "x.bin") }, #"'x\ny'"#)
        oneLine({ _ = try ModelConfig.parse(json: #"{"arch": "a\u2028b"}"#, source: "x.bin") }, #"a\u{2028}b"#)
        let global: [UInt8] = [0x80, 0x02, 0x58, 3, 0, 0, 0] + Array("a\nb".utf8) + [0x58, 1, 0, 0, 0, 0x63, 0x93, 0x2E]
        oneLine({ _ = try TorchCheckpoint.parse(global, name: "checkpoint 'x.bin'") }, #"'a\nb.c'"#)
        // A text-line opcode quotes its line: ESC [2J would clear the terminal that prints the message.
        let float: [UInt8] = [0x80, 0x02, 0x46, 0x1B, 0x5B, 0x32, 0x4A, 0x0A, 0x2E]
        oneLine({ _ = try TorchCheckpoint.parse(float, name: "checkpoint 'x.bin'") }, #"'\u{1B}[2J'"#)
    }

    /// A 200-byte checkpoint with a stride-0 tensor of 2^33 elements over a one-element storage tried to allocate
    /// 32 GB (a crash under a memory limit); values beyond a few per byte of the file are refused.
    func testZeroStrideTensorsCannotAllocateWithoutBound() {
        assertRefused(legacy(offset: 0, shape: [1 << 33], strides: [0]), "more values than")
    }

    /// Safetensors tensors naming the same bytes (here 2,000 over one 4 kB range, a 180 kB file) decoded each
    /// copy in full: gigabytes from a megabyte. The format forbids overlaps; they are refused before decoding.
    func testOverlappingSafetensorsTensorsAreRefused() {
        let entries = (0..<2000).map { #""t\#($0)": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}"# }
        let header = Array(("{" + entries.joined(separator: ", ") + "}").utf8)
        let bytes = (0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) } + header
            + [UInt8](repeating: 0, count: 4096)
        XCTAssertThrowsError(try Safetensors.parse(bytes, name: "x.safetensors")) {
            XCTAssertTrue("\($0)".contains("overlap"), "\($0)")
        }
    }
}
