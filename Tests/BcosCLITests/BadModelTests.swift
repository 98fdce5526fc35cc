import BcosEngine
import Foundation
import XCTest

/// Broken model files, each fed to `bcos info` and `bcos explain`: both must exit 1 with one line
/// `bcos: error: ...` on stderr naming the file (and the offending key, tensor or value), and must not crash.
///
/// The files are built here from the small valid model that `bcos init` writes (`CLITestCase.base`).
final class BadModelTests: CLITestCase {
    /// Runs `info` and `explain` on `model` and checks both fail cleanly, mentioning `model` and `mentions`.
    func assertBadModel(_ model: String, _ mentions: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let image = try writePNG("ok-\(UUID().uuidString).png")
        assertUserError(["info", model], mentions: [model] + mentions, file: file, line: line)
        assertUserError(["explain", "--model", model, "--image", image], mentions: [model] + mentions, file: file, line: line)
        assertUserError(["explain", "--model", model, "--image", image, "--json"], mentions: [model] + mentions,
                        file: file, line: line)
    }

    /// The base model's tensors as raw header entries (F32, consecutive offsets) and their data bytes.
    func baseEntries() throws -> (entries: [(name: String, dtype: String, shape: [Int], offsets: [Int])], data: [UInt8]) {
        let (tensors, _) = try baseParts()
        var entries = [(name: String, dtype: String, shape: [Int], offsets: [Int])]()
        var data = [UInt8]()
        for (name, t) in tensors {
            entries.append((name, "F32", t.shape, [data.count, data.count + 4 * t.count]))
            for v in t.data { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        }
        return (entries, data)
    }

    // MARK: - The file itself

    func testMissingFile() throws {
        try assertBadModel(tmp.file("does-not-exist.safetensors"), ["not found"])
    }

    func testEmptyFile() throws {
        try assertBadModel(try tmp.write("empty.safetensors", []), ["empty"])
    }

    func testFiveByteFile() throws {
        try assertBadModel(try tmp.write("five.safetensors", [1, 2, 3, 4, 5]), ["5 bytes"])
    }

    func testHeaderLengthLargerThanFile() throws {
        // Claims a 1000-byte header; only 20 bytes follow.
        var bytes: [UInt8] = [0xe8, 0x03, 0, 0, 0, 0, 0, 0]
        bytes += [UInt8]("{\"a\": 1}           ".utf8)
        try assertBadModel(try tmp.write("short-header.safetensors", bytes), ["1000"])
    }

    func testHeaderNotJSON() throws {
        let bytes = Self.rawSafetensors(header: "this is not JSON at all", data: [0, 0, 0, 0])
        try assertBadModel(try tmp.write("not-json.safetensors", bytes), ["JSON"])
    }

    func testHeaderLiesAboutSizes() throws {
        // A valid model whose last tensor claims to end 4000 bytes past the end of the data section.
        var (entries, data) = try baseEntries()
        let last = entries.count - 1
        entries[last].offsets[1] += 4000
        let name = entries[last].name
        let bytes = Self.rawSafetensors(header: try header(entries), data: data)
        try assertBadModel(try tmp.write("lying.safetensors", bytes), [name])
        // The same with the data section cut short instead (a truncated download).
        (entries, data) = try baseEntries()
        let cut = Self.rawSafetensors(header: try header(entries), data: Array(data.dropLast(100)))
        try assertBadModel(try tmp.write("truncated.safetensors", cut), ["truncated"])
    }

    func testOffsetsDoNotMatchShape() throws {
        // The first tensor's shape is halved along dim 0 while its offsets still span the full data.
        var (entries, data) = try baseEntries()
        entries[0].shape[0] /= 2
        let bytes = Self.rawSafetensors(header: try header(entries), data: data)
        try assertBadModel(try tmp.write("offsets.safetensors", bytes), [entries[0].name])
    }

    func testUnsupportedDtype() throws {
        var (entries, data) = try baseEntries()
        entries[1].dtype = "I32"
        let bytes = Self.rawSafetensors(header: try header(entries), data: data)
        try assertBadModel(try tmp.write("i32.safetensors", bytes), [entries[1].name, "I32"])
    }

    func testHeaderWithOverflowingByteSize() throws {
        // 2^60 elements fit in an Int, their 2^63 bytes (F64) do not: must be refused, not trap on overflow.
        var (entries, data) = try baseEntries()
        entries[0].dtype = "F64"
        entries[0].shape = [1 << 39, 1 << 21]
        let bytes = Self.rawSafetensors(header: try header(entries), data: data)
        try assertBadModel(try tmp.write("overflow.safetensors", bytes), [entries[0].name])
    }

    // MARK: - The config

    func testNoConfigMetadata() throws {
        let (tensors, _) = try baseParts()
        try assertBadModel(try writeModel("noconfig.safetensors", tensors: tensors, metadata: [:]), ["bcos.config"])
        try assertBadModel(try writeModel("otherkey.safetensors", tensors: tensors, metadata: ["format": "pt"]),
                           ["bcos.config"])
    }

    func testConfigNotJSON() throws {
        let (tensors, _) = try baseParts()
        let path = try writeModel("badjson.safetensors", tensors: tensors,
                                  metadata: [BcosModel.configKey: "{\"arch\": \"v1_9layer\", widths: [4"])
        try assertBadModel(path, ["bcos.config"])
    }

    func testUnknownConfigKey() throws {
        try assertBadModel(try writeModel("typo.safetensors") { $0["widht"] = 4 }, ["widht"])
    }

    func testMissingRequiredKey() throws {
        try assertBadModel(try writeModel("nob.safetensors") { $0["b"] = nil }, ["'b'", "missing"])
        try assertBadModel(try writeModel("noclasses.safetensors") { $0["num_classes"] = nil }, ["num_classes"])
    }

    func testBZero() throws {
        try assertBadModel(try writeModel("b0.safetensors") { $0["b"] = 0 }, ["'b'"])
    }

    func testMaxOutZero() throws {
        try assertBadModel(try writeModel("m0.safetensors") { $0["max_out"] = 0 }, ["max_out"])
    }

    func testWidthsCountMismatch() throws {
        try assertBadModel(try writeModel("widths7.safetensors") { $0["widths"] = [4, 4, 4, 4, 4, 4, 4] },
                           ["kernel_sizes", "widths"])
    }

    func testClassesCountMismatch() throws {
        try assertBadModel(try writeModel("classes.safetensors") { $0["classes"] = ["cat", "dog", "bird"] },
                           ["classes", "num_classes"])
    }

    func testStringWhereNumberBelongs() throws {
        try assertBadModel(try writeModel("bstring.safetensors") { $0["b"] = "two" }, ["'b'", "two"])
        try assertBadModel(try writeModel("widthstring.safetensors") { $0["widths"] = [4, 4, "4", 4, 4, 4, 4, 4] },
                           ["widths"])
    }

    // MARK: - The tensors

    func testMissingTensor() throws {
        let path = try writeModel("missing.safetensors") { t in t.removeAll { $0.name == "3.linear.weight" } }
        try assertBadModel(path, ["3.linear.weight", "missing"])
    }

    func testUnexpectedTensor() throws {
        let path = try writeModel("extra.safetensors") { t in
            t.append((name: "9.linear.bias", tensor: Tensor(shape: [4], data: [1, 2, 3, 4])))
        }
        try assertBadModel(path, ["9.linear.bias"])
    }

    func testWrongTensorShape() throws {
        let path = try writeModel("shape.safetensors") { t in
            let i = t.firstIndex { $0.name == "2.linear.weight" }!
            let s = t[i].tensor.shape  // [8, 4, 3, 3]
            t[i].tensor = Tensor(shape: [s[0], s[1], 1, 1], data: (0..<(s[0] * s[1])).map { Float($0 + 1) })
        }
        try assertBadModel(path, ["2.linear.weight"])
    }

    func testNaNWeights() throws {
        let path = try writeModel("nan.safetensors") { t in
            let i = t.firstIndex { $0.name == "1.linear.weight" }!
            t[i].tensor.data[5] = .nan
        }
        try assertBadModel(path, ["1.linear.weight", "NaN"])
    }

    func testAllZeroWeightRow() throws {
        let path = try writeModel("zero-row.safetensors") { t in
            let i = t.firstIndex { $0.name == "4.linear.weight" }!
            let k = t[i].tensor.count / t[i].tensor.shape[0]
            for j in (3 * k)..<(4 * k) { t[i].tensor.data[j] = 0 }
        }
        try assertBadModel(path, ["4.linear.weight", "row 3"])
    }

    /// The unchanged base model passes both commands, so every failure above comes from the one change made.
    func testBaseModelIsValid() throws {
        let (tensors, cfg) = try baseParts()
        let json = String(decoding: try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]), as: UTF8.self)
        let rewritten = try writeModel("rewritten.safetensors", tensors: tensors, metadata: [BcosModel.configKey: json])
        let (entries, data) = try baseEntries()
        let raw = try tmp.write("raw.safetensors", Self.rawSafetensors(header: try header(entries), data: data))
        let image = try writePNG()
        for model in [try baseModel(), rewritten, raw] {
            assertSuccess(["info", model])
            assertSuccess(["explain", "--model", model, "--image", image])
        }
    }
}
