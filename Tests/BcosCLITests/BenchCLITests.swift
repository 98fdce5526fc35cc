import Foundation
import XCTest

/// `bcos bench`: its own measurements only (no PyTorch figures), in text and as the JSON that
/// tools/bench_compare.py reads.
final class BenchCLITests: CLITestCase {
    func testJSONHasEveryMeasurement() throws {
        let json = try jsonObject(assertSuccess(["bench", "--model", try baseModel(), "--quick", "--batch", "2",
                                                 "--threads", "1", "--train", "--json"]))
        XCTAssertEqual((json["batch"] as? NSNumber)?.intValue, 2)
        XCTAssertEqual((json["threads"] as? NSNumber)?.intValue, 1)
        for key in ["explain_ms", "explain_best_ms", "explain_forward_ms", "explain_backward_ms", "explain_peak_rss_mib",
                    "forward_img_s", "forward_best_img_s", "train_img_s", "train_best_img_s", "train_peak_rss_mib"] {
            let v = try XCTUnwrap((json[key] as? NSNumber)?.doubleValue, key)
            XCTAssertTrue(v.isFinite && v > 0, "\(key) = \(v)")
        }
        let best = try XCTUnwrap((json["explain_best_ms"] as? NSNumber)?.doubleValue)
        XCTAssertLessThanOrEqual(best, try XCTUnwrap((json["explain_ms"] as? NSNumber)?.doubleValue))
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 9)
        XCTAssertTrue(layers.allSatisfy { (($0["bcos_ms"] as? NSNumber)?.doubleValue ?? 0) > 0 })
    }

    func testTextNamesNoOtherMachinesNumbers() throws {
        let out = assertSuccess(["bench", "--model", try baseModel(), "--quick", "--batch", "2", "--no-layers"])
        XCTAssertTrue(out.contains("explain (batch 1):"), out)
        XCTAssertTrue(out.contains("forward (batch   2):"), out)
        XCTAssertFalse(out.lowercased().contains("pytorch"), out)
        XCTAssertFalse(out.contains("faster"), out)
    }
}
