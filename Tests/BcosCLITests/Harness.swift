import BcosData
import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// Runs the built `bcos` executable as a subprocess and provides the files the CLI tests feed it.
///
/// `swift test` builds the executable next to the test bundle (`.build/<triple>/debug/bcos`); the environment
/// variable `BCOS_BIN` overrides the path.
enum Bcos {
    /// The result of one run: exit status (128 + signal number when a signal killed it), stdout and stderr.
    struct Result: CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String
        let signalled: Bool

        var description: String {
            "exit \(status)\(signalled ? " (signal)" : "")\n--- stdout:\n\(stdout.prefix(2000))\n--- stderr:\n\(stderr.prefix(2000))"
        }
    }

    /// Path of the `bcos` executable.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["BCOS_BIN"] { return path }
        var dirs = [String]()
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            dirs.append((bundle.bundlePath as NSString).deletingLastPathComponent)
        }
        // On Linux the .xctest bundle is itself the running executable.
        dirs.append((Bundle.main.bundlePath as NSString).deletingLastPathComponent)
        dirs.append(Bundle.main.bundlePath)
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            dirs.append((exe as NSString).deletingLastPathComponent)
        }
        for dir in dirs {
            let candidate = (dir as NSString).appendingPathComponent("bcos")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return (dirs.first ?? ".") + "/bcos"
    }()

    /// Runs `bcos args...` to completion. Output goes through temporary files, so large outputs cannot deadlock.
    static func run(_ args: [String]) -> (status: Int32, stdout: String, stderr: String) {
        let r = result(args)
        return (r.status, r.stdout, r.stderr)
    }

    /// Like `run`, also saying whether a signal ended the process.
    static func result(_ args: [String]) -> Result {
        let dir = NSTemporaryDirectory() + "bcos-cli-run-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/stdout", errPath = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        guard FileManager.default.isExecutableFile(atPath: binary),
              let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath) else {
            return Result(status: -1, stdout: "", stderr: "no bcos executable at '\(binary)' (set BCOS_BIN)", signalled: false)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do {
            try p.run()
        } catch {
            return Result(status: -1, stdout: "", stderr: "cannot start \(binary): \(error)", signalled: false)
        }
        p.waitUntilExit()
        try? out.close()
        try? err.close()
        let stdout = String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self)
        let stderr = String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self)
        let signalled = p.terminationReason == .uncaughtSignal
        return Result(status: signalled ? 128 + p.terminationStatus : p.terminationStatus,
                      stdout: stdout, stderr: stderr, signalled: signalled)
    }
}

/// A temporary directory, removed by `cleanUp()`.
final class TempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "bcos-cli-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// Base class of the CLI tests: a fresh temp dir per test, a small valid model and a matching image.
class CLITestCase: XCTestCase {
    var tmp: TempDir!

    override func setUpWithError() throws {
        tmp = try TempDir()
    }

    override func tearDown() {
        tmp?.cleanUp()
        tmp = nil
    }

    /// A valid model written by `bcos init` (widths 4, 16x16 RGB, 10 classes): made once per test class, removed in
    /// `tearDown()` of the class.
    struct Base {
        let dir: TempDir
        let path: String
        let contents: Safetensors.Contents
        let config: [String: Any]
    }

    nonisolated(unsafe) private static var shared: Base?

    override class func tearDown() {
        shared?.dir.cleanUp()
        shared = nil
        super.tearDown()
    }

    func base() throws -> Base {
        if let b = Self.shared { return b }
        let dir = try TempDir()
        let path = dir.file("base.safetensors")
        let r = Bcos.result(["init", "--widths", "4,4,4,4,4,4,4,4", "--size", "16,16", "--seed", "7",
                             "--temperature", "0.01", "--out", path])
        guard r.status == 0 else {
            dir.cleanUp()
            throw BcosError("cannot create the base model with `bcos init` (binary \(Bcos.binary)): \(r)")
        }
        let contents = try Safetensors.load(path)
        let json = try XCTUnwrap(contents.metadata[BcosModel.configKey])
        let cfg = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let b = Base(dir: dir, path: path, contents: contents, config: cfg)
        Self.shared = b
        return b
    }

    /// Path of the shared valid model.
    func baseModel() throws -> String { try base().path }

    /// The base model's tensors and config (as a JSON object).
    func baseParts() throws -> (tensors: [(name: String, tensor: Tensor)], config: [String: Any]) {
        let b = try base()
        return (b.contents.tensors, b.config)
    }

    /// A PNG of `width` x `height` seeded random RGB pixels in the test's temp dir.
    @discardableResult
    func writePNG(_ name: String = "image.png", width: Int = 16, height: Int = 16, seed: UInt64 = 1) throws -> String {
        var rng = SplitMix64(seed: seed)
        let rgb = (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 56) }
        let p = tmp.file(name)
        try PNG.write(Image(width: width, height: height, rgb: rgb), to: p)
        return p
    }

    /// Writes a model file from tensors and metadata with `Safetensors.serialize`.
    func writeModel(_ name: String, tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) throws -> String {
        try tmp.write(name, Safetensors.serialize(tensors, metadata: metadata))
    }

    /// Writes the base model's tensors with a config changed by `edit`.
    func writeModel(_ name: String, editConfig edit: (inout [String: Any]) -> Void) throws -> String {
        var (tensors, cfg) = try baseParts()
        edit(&cfg)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]), as: UTF8.self)
        return try writeModel(name, tensors: tensors, metadata: [BcosModel.configKey: json])
    }

    /// Writes the base model's config with its tensors changed by `edit`.
    func writeModel(_ name: String, editTensors edit: (inout [(name: String, tensor: Tensor)]) -> Void) throws -> String {
        var (tensors, cfg) = try baseParts()
        edit(&tensors)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]), as: UTF8.self)
        return try writeModel(name, tensors: tensors, metadata: [BcosModel.configKey: json])
    }

    /// Safetensors bytes with a header given as JSON text and raw data bytes (the length prefix is computed).
    static func rawSafetensors(header: String, data: [UInt8]) -> [UInt8] {
        let h = [UInt8](header.utf8)
        var len = UInt64(h.count)
        var out = [UInt8]()
        for _ in 0..<8 { out.append(UInt8(len & 0xff)); len >>= 8 }
        return out + h + data
    }

    /// A JSON header text for tensor entries plus the base model's config as metadata.
    func header(_ entries: [(name: String, dtype: String, shape: [Int], offsets: [Int])]) throws -> String {
        let (_, cfg) = try baseParts()
        let cfgText = String(decoding: try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]), as: UTF8.self)
        var obj: [String: Any] = ["__metadata__": [BcosModel.configKey: cfgText]]
        for e in entries { obj[e.name] = ["dtype": e.dtype, "shape": e.shape, "data_offsets": e.offsets] as [String: Any] }
        return String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Asserts a clean user error: exit 1, no signal, stderr exactly one line `bcos: error: ...` that contains
    /// every string in `mentions`, no crash report, nothing on stdout.
    func assertUserError(_ args: [String], mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        let r = Bcos.result(args)
        let context = "bcos \(args.joined(separator: " "))\n\(r)"
        XCTAssertFalse(r.signalled, "killed by a signal: \(context)", file: file, line: line)
        XCTAssertEqual(r.status, 1, "exit status: \(context)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasSuffix("\n"), "stderr does not end in a newline: \(context)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 1, "stderr must be exactly one line: \(context)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("bcos: error: "), "stderr must start with 'bcos: error: ': \(context)",
                      file: file, line: line)
        for m in mentions {
            XCTAssertTrue(r.stderr.contains(m), "stderr does not mention '\(m)': \(context)", file: file, line: line)
        }
        for crash in ["Fatal error", "Swift runtime failure", "Backtrac", "Stack dump", "Illegal instruction",
                      "Segmentation fault", "Current stack trace"] {
            XCTAssertFalse(r.stderr.contains(crash), "crash report (\(crash)): \(context)", file: file, line: line)
        }
        XCTAssertEqual(r.stdout, "", "stdout must be empty on an error: \(context)", file: file, line: line)
    }

    /// Asserts exit 0 and returns stdout.
    @discardableResult
    func assertSuccess(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
        let r = Bcos.result(args)
        XCTAssertEqual(r.status, 0, "bcos \(args.joined(separator: " "))\n\(r)", file: file, line: line)
        XCTAssertFalse(r.signalled, file: file, line: line)
        return r.stdout
    }

    /// Parses stdout of a `--json` run as one JSON object.
    func jsonObject(_ stdout: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let any = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        return try XCTUnwrap(any as? [String: Any], "not a JSON object: \(stdout.prefix(300))", file: file, line: line)
    }
}

/// Numbers from a JSON array (`[Double]`), failing on anything else.
func numbers(_ any: Any?, file: StaticString = #filePath, line: UInt = #line) throws -> [Double] {
    let a = try XCTUnwrap(any as? [Any], "not a JSON array: \(String(describing: any))", file: file, line: line)
    return try a.map { try XCTUnwrap(($0 as? NSNumber)?.doubleValue, "not a number: \($0)", file: file, line: line) }
}

/// A 2-D JSON array of numbers as rows.
func matrix(_ any: Any?, file: StaticString = #filePath, line: UInt = #line) throws -> [[Double]] {
    let rows = try XCTUnwrap(any as? [Any], "not a JSON array: \(String(describing: any))", file: file, line: line)
    return try rows.map { try numbers($0, file: file, line: line) }
}
