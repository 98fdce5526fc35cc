import BcosData
import Foundation
import XCTest

/// `bcos explain --method`: every post-hoc method through the CLI, its files, JSON and refusals.
final class MethodCLITests: CLITestCase {
    func testEveryMethodWritesItsMapAndJSON() throws {
        let model = try baseModel(), image = try writePNG()
        for method in ["grad", "ixg", "intgrad", "deeplift", "gradcam", "occlusion", "lime"] {
            let out = tmp.file("out-\(method)")
            let json = try jsonObject(assertSuccess(["explain", "--model", model, "--image", image, "--method", method,
                                                     "--out", out, "--json"]))
            XCTAssertEqual(json["method"] as? String, method)
            let map = try matrix(json["attribution"])
            XCTAssertEqual(map.count, 16, method)
            XCTAssertTrue(map.allSatisfy { $0.count == 16 && $0.allSatisfy(\.isFinite) }, method)
            XCTAssertNoThrow(try PNG.read(out + "/image_\(method).png"), method)
            if method == "intgrad" { XCTAssertNotNil(json["completeness_error"] as? Double) }
            if method == "lime" { XCTAssertNoThrow(try PNG.read(out + "/image_lime_top5.png")) }
        }
    }

    func testMethodRefusals() throws {
        let model = try baseModel(), image = try writePNG()
        assertUserError(["explain", "--model", model, "--image", image, "--method", "magic"], mentions: ["magic"])
        assertUserError(["explain", "--model", model, "--image", image, "--method", "grad", "--target", "top2-delta"],
                        mentions: ["top2-delta"])
        assertUserError(["explain", "--model", model, "--image", image, "--method", "grad", "--target", "4:1"],
                        mentions: ["4:1"])
    }
}
