import BcosData
import BcosEngine
@testable import BcosTUI
import BcosTestSupport
import Foundation
import XCTest

/// Text snapshots of every view, rendered off-screen into the cell buffer, with a real (tiny, random) model and
/// a generated dataset driven through the real worker. Re-record with `BCOS_RECORD_SNAPSHOTS=1 swift test`.
final class SnapshotTests: XCTestCase {
    static let snapshotDir = TestSupport.repoRoot + "/Tests/BcosTUITests/Snapshots/"

    /// 30 gray 12x12 images in 3 classes (bars at different heights) and a random 3-class model.
    static func fixture() throws -> (Dataset, String) {
        var labels = [Int](), pixels = [UInt8]()
        for i in 0..<30 {
            let k = i % 3
            labels.append(k)
            for y in 0..<12 {
                for x in 0..<12 { pixels.append((y / 4 == k) ? UInt8(200 + (x * 5 + i) % 50) : UInt8((x + y + i) % 30)) }
            }
        }
        let data = Dataset(classes: ["top", "middle", "bottom"], channels: 1, height: 12, width: 12, labels: labels,
                           pixels: pixels, source: "generated")
        let cfg = ModelConfig(numClasses: 3, imageChannels: 1, imageSize: [12, 12], widths: [4, 4, 6, 6, 6, 8, 8, 8],
                              b: 2, maxOut: 2, scale: 0.3, logitTemperature: 1, logitBias: -0.69,
                              classes: ["top", "middle", "bottom"])
        let path = NSTemporaryDirectory() + "bcos-tui-model-\(UUID().uuidString).safetensors"
        try BcosModel.random(config: cfg, seed: 4).save(to: path)
        return (data, path)
    }

    /// Runs the worker until nothing arrives for a while.
    static func settle(_ e: Explorer, seconds: Double = 10) {
        let deadline = Date().addingTimeInterval(seconds)
        var quietSince = Date()
        while Date() < deadline {
            if e.drainInbox() { quietSince = Date() } else if Date().timeIntervalSince(quietSince) > 0.3 { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    func check(_ buffer: CellBuffer, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try check(buffer.text(), name, file: file, line: line)
    }

    /// What a snapshot keeps of a frame's text: layout, labels, order and integers, but no float digits.
    ///
    /// OpenBLAS picks different kernels on different CPUs (AVX2, AVX-512, ...) and they round differently, so
    /// a float printed on screen may differ in its last digits from machine to machine. A completeness error
    /// is bucketed (what a user reads from it is "tiny"; anything above 1e-6 is kept verbatim and fails),
    /// and every other decimal number keeps its shape with its digits masked as `#`. The numbers themselves
    /// are checked against the engine with magnitude-derived tolerances by the tests that own them.
    static func maskFloats(_ text: String) -> String {
        var out = text
        let numbers = try! NSRegularExpression(pattern: #"error (\d\.\de[-+]\d\d)|\d+\.\d+(e[-+]\d+)?"#)
        for m in numbers.matches(in: out, range: NSRange(out.startIndex..., in: out)).reversed() {
            if let r = Range(m.range(at: 1), in: out) {
                if let v = Double(out[r]), v < 1e-6 { out.replaceSubrange(r, with: "ok<1e-6") }
            } else if let r = Range(m.range, in: out) {
                out.replaceSubrange(r, with: String(out[r].map { $0.isNumber ? "#" : $0 }))
            }
        }
        return out
    }

    /// Compares `text`, floats masked, with the recorded snapshot `name` (timings must be masked by the caller).
    func check(_ rawText: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = Self.maskFloats(rawText)
        let path = Self.snapshotDir + name + ".txt"
        if ProcessInfo.processInfo.environment["BCOS_RECORD_SNAPSHOTS"] == "1" {
            try FileManager.default.createDirectory(atPath: Self.snapshotDir, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
            return XCTFail("no snapshot \(path); record with BCOS_RECORD_SNAPSHOTS=1", file: file, line: line)
        }
        XCTAssertEqual(text, expected, "snapshot \(name) differs; re-record with BCOS_RECORD_SNAPSHOTS=1 if intended",
                       file: file, line: line)
    }

    func testEveryViewAtTwoSizes() throws {
        let (data, model) = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: model) }
        for (w, h) in [(80, 24), (200, 60)] {
            let e = Explorer(dataset: data, datasetName: "toy test", models: [ModelEntry(name: "toy", path: model)],
                             initial: 0, exportDir: NSTemporaryDirectory(), width: w, height: h)
            e.start()
            Self.settle(e)
            XCTAssertEqual(e.state.predictionsDone, 30)
            try check(e.frame(), "browser-\(w)x\(h)")
            e.dispatch(.key(.right))
            e.dispatch(.key(.enter))
            Self.settle(e)
            XCTAssertNotNil(e.state.inspect)
            try check(e.frame(), "inspect-\(w)x\(h)")
            e.dispatch(.key(.char("o")))
            Self.settle(e)
            XCTAssertEqual(e.state.methodResult?.method, "grad")
            try check(e.frame().text().replacingOccurrences(of: #"grad \d+\.\ds"#, with: "grad", options: .regularExpression),
                      "inspect-grad-\(w)x\(h)")
            e.dispatch(.key(.char("p")))
            e.dispatch(.key(.char("p")))
            Self.settle(e)
            XCTAssertEqual(e.state.methodResults.map { $0?.method }, ["grad", "ixg"], "two methods side by side")
            try check(e.frame().text().replacingOccurrences(of: #"(grad|ixg) \d+\.\ds"#, with: "$1", options: .regularExpression),
                      "inspect-grad-ixg-\(w)x\(h)")
            e.dispatch(.key(.char("P")))
            e.dispatch(.key(.char("P")))
            e.dispatch(.key(.char("O")))
            e.dispatch(.key(.char("n")))
            Self.settle(e)
            XCTAssertNotNil(e.state.neurons)
            try check(e.frame(), "neurons-\(w)x\(h)")
            e.dispatch(.key(.char("?")))
            try check(e.frame(), "help-\(w)x\(h)")
            e.dispatch(.key(.escape))
            e.dispatch(.key(.char("/")))
            try check(e.frame(), "layers-\(w)x\(h)")
        }
    }

    /// Two machines whose kernels round differently record the same snapshot; a large error still shows.
    func testSnapshotMaskHidesRoundingButNotFailures() {
        let a = "logit − bias = 0.038452 (error 1.9e-08)  6:0.399  accuracy 33.33%  #12 4x12x12"
        let b = "logit − bias = 0.038453 (error 3.9e-09)  6:0.398  accuracy 33.33%  #12 4x12x12"
        XCTAssertEqual(Self.maskFloats(a), Self.maskFloats(b))
        XCTAssertEqual(Self.maskFloats(a), "logit − bias = #.###### (error ok<1e-6)  6:#.###  accuracy ##.##%  #12 4x12x12")
        XCTAssertNotEqual(Self.maskFloats("(error 2.0e-05)"), Self.maskFloats("(error 3.9e-09)"))
        XCTAssertTrue(Self.maskFloats("(error 2.0e-05)").contains("e-05"), "a real completeness failure stays visible")
    }

    func testTooSmallTerminal() throws {
        let s = AppState(width: 40, height: 10, datasetName: "toy", classes: ["a"], labels: [0], imageWidth: 4,
                         imageHeight: 4, models: [], modelIndex: 0)
        var b = CellBuffer(width: 40, height: 10)
        render(s, gallery: Gallery { _ in [UInt8](repeating: 0, count: 48) }, into: &b)
        XCTAssertTrue(b.text().contains("terminal too small"))
        try check(b, "too-small-40x10")
    }

    func testInspectShowsCompleteExplanationsAndExportWritesDecodablePNGs() throws {
        let (data, model) = try Self.fixture()
        let dir = NSTemporaryDirectory() + "bcos-tui-export-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: model)
            try? FileManager.default.removeItem(atPath: dir)
        }
        let e = Explorer(dataset: data, datasetName: "toy", models: [ModelEntry(name: "toy", path: model)], initial: 0,
                         exportDir: dir, width: 100, height: 30)
        e.start()
        Self.settle(e)
        e.dispatch(.key(.enter))
        Self.settle(e)
        let r = try XCTUnwrap(e.state.inspect)
        XCTAssertLessThan(r.completenessError, 1e-4 * max(1, abs(r.explainedValue)))
        e.dispatch(.key(.char("e")))
        e.dispatch(.key(.char("e")))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files.count, 10, "two exports of five files each, none overwritten: \(files)")
        for f in files { XCTAssertNoThrow(try PNG.read(dir + "/" + f), f) }
        XCTAssertTrue(e.state.status.contains("exported"), e.state.status)
    }
}
