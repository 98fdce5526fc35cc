import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// The checkpoint reader against files written by real `torch.save` (tools/make_import_fixtures.py), and against
/// hostile, truncated and corrupt inputs.
final class ImportTests: XCTestCase {
    func path(_ name: String) -> String { TestSupport.repoRoot + "/Tests/BcosEngineTests/ImportFixtures/" + name }

    func expected() throws -> [(name: String, tensor: Tensor)] { try Safetensors.load(path("expected.safetensors")).tensors }

    func testZipLegacyAndWrappedCheckpointsGiveTheSameTensorsInOrder() throws {
        let want = try expected()
        let order = ["conv1.linear.weight", "bn1.weight", "bn1.running_var", "fc.transposed", "fc.slice", "half",
                     "double", "bf16", "scalar"]
        for (file, format) in [("state_zip.pth", "zip"), ("state_legacy.pkl", "legacy"), ("state_wrapped.pth", "zip")] {
            let c = try TorchCheckpoint.load(path(file))
            XCTAssertEqual(c.format, format, file)
            XCTAssertEqual(c.tensors.map(\.name), order, "\(file): state-dict order")
            XCTAssertEqual(c.skipped, ["bn1.num_batches_tracked"], file)
            for (name, t) in c.tensors {
                let ref = try XCTUnwrap(want.first { $0.name == name }?.tensor, name)
                XCTAssertEqual(t.shape, ref.shape, "\(file) \(name)")
                XCTAssertEqual(t.data, ref.data, "\(file) \(name): exact values (strided views, f16, bf16, f64)")
            }
        }
    }

    func testHostilePicklesAreRefusedWithoutRunningAnything() throws {
        let marker = "/tmp/bcos-pwned"
        try? FileManager.default.removeItem(atPath: marker)
        for (file, mention) in [("evil_zip.pth", "posix.system"), ("evil_reduce.pkl", "builtins.eval"),
                                ("model_object.pth", "torch.nn.modules")] {
            XCTAssertThrowsError(try TorchCheckpoint.load(path(file)), file) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(mention), "\(file): \(text)")
                XCTAssertTrue(text.contains(file), "\(file): names the file: \(text)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    func testTruncatedFilesFailCleanly() throws {
        for file in ["state_zip.pth", "state_legacy.pkl"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(file))))
            var lengths = Array(stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)))
            lengths += [bytes.count - 1, bytes.count - 8, 1, 2]
            for n in lengths {
                XCTAssertThrowsError(try TorchCheckpoint.parse(Array(bytes[0..<n]), name: "cut"), "\(file) cut at \(n)")
            }
        }
    }

    func testCorruptBytesNeverCrash() throws {
        var rng = SplitMix64(seed: 5)
        for file in ["state_zip.pth", "state_legacy.pkl"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(file))))
            for _ in 0..<300 {
                var b = bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
                _ = try? TorchCheckpoint.parse(b, name: "corrupt")  // any outcome but a trap
            }
        }
    }

    func testCraftedPicklesWithLyingLengthsAndUnknownOpcodes() {
        let cases: [[UInt8]] = [
            [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F],             // BINUNICODE longer than the file
            [0x80, 0x02, 0x8D] + [UInt8](repeating: 0xFF, count: 8),  // BINUNICODE8 of 2^64-1 bytes
            [0x80, 0x02, 0x68, 0x05, 0x2E],                          // BINGET of a missing memo entry
            [0x80, 0x02, 0x2E],                                      // STOP on an empty stack
            [0x80, 0x02, 0x75, 0x2E],                                // SETITEMS without a MARK
            [0x80, 0x02, 0xFE],                                      // an unknown opcode
            [0x80, 0x02, 0x7D, 0x81, 0x2E],                          // NEWOBJ
            [0x80, 0x02, 0x4E, 0x4E, 0x73, 0x2E],                    // SETITEM on None
        ]
        for (i, bytes) in cases.enumerated() {
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes, name: "crafted \(i)"), "case \(i)")
        }
    }

    /// Lists nested 200,000 deep (a 400 kB pickle) used to overflow the stack when freed; tuples that share their
    /// halves through the memo 60 times over would take 2^60 steps to walk. Both are refused with a message.
    func testDeepAndExponentiallySharedPicklesAreRefused() {
        let n = 200_000
        let deep: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E]
        XCTAssertThrowsError(try TorchCheckpoint.parse(deep, name: "deep")) { error in
            XCTAssertTrue("\(error)".contains("nested more than"), "\(error)")
        }
        var shared: [UInt8] = [0x80, 0x02, 0x5D, 0x94]  // [] memoised as 0
        for k in 1...60 { shared += [0x68, UInt8(k - 1), 0x68, UInt8(k - 1), 0x86, 0x94] }  // (m[k-1], m[k-1]) as k
        shared.append(0x2E)
        XCTAssertThrowsError(try TorchCheckpoint.parse(shared, name: "shared")) { error in
            XCTAssertTrue("\(error)".contains("share too much"), "\(error)")
        }
        // A list nested 500 deep is fine as far as nesting goes (it is not a state dict, which is a different error).
        let fine: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: 500) + [UInt8](repeating: 0x61, count: 499) + [0x2E]
        XCTAssertThrowsError(try TorchCheckpoint.parse(fine, name: "fine")) { error in
            XCTAssertFalse("\(error)".contains("nested more than"), "\(error)")
        }
    }
}
