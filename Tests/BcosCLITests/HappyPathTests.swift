import BcosData
import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// `bcos info` and `bcos explain` on valid input: the output's structure and its numbers.
final class HappyPathTests: CLITestCase {
    /// The small CIFAR-10 model of the acceptance fixture (class names airplane ... truck) and its 32x32 image.
    static let cifarModel = TestSupport.repoRoot + "/Tests/BcosCLITests/Fixtures/v1_cifar_small.model.safetensors"
    static let cifarImage = TestSupport.repoRoot + "/Tests/BcosCLITests/Fixtures/image.png"

    // MARK: - info

    func testInfoJSON() throws {
        let model = try baseModel()
        let json = try jsonObject(assertSuccess(["info", model, "--json"]))
        XCTAssertEqual(json["arch"] as? String, "v1_9layer")
        XCTAssertEqual(json["classes"] as? [String], (0..<10).map(String.init))
        let (tensors, _) = try baseParts()
        XCTAssertEqual((json["parameters"] as? NSNumber)?.intValue, tensors.reduce(0) { $0 + $1.tensor.count })
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 12)
        // 16x16 input, widths 4, strides 1,1,2,1,1,2,1,1,1 (padding 1): 16 -> 16 -> 8 -> 8 -> 8 -> 4 -> ...
        let expected: [(String, [Int])] = [
            ("input", [1, 6, 16, 16]), ("0", [1, 4, 16, 16]), ("1", [1, 4, 16, 16]), ("2", [1, 4, 8, 8]),
            ("3", [1, 4, 8, 8]), ("4", [1, 4, 8, 8]), ("5", [1, 4, 4, 4]), ("6", [1, 4, 4, 4]), ("7", [1, 4, 4, 4]),
            ("8", [1, 10, 4, 4]), ("pool", [1, 10]), ("logits", [1, 10]),
        ]
        for (i, layer) in layers.enumerated() {
            XCTAssertEqual((layer["index"] as? NSNumber)?.intValue, i)
            XCTAssertEqual(layer["name"] as? String, expected[i].0, "layer \(i)")
            XCTAssertEqual((layer["output_shape"] as? [NSNumber])?.map(\.intValue), expected[i].1, "layer \(i)")
        }
        let config = try XCTUnwrap(json["config"] as? [String: Any])
        XCTAssertEqual((config["image_size"] as? [NSNumber])?.map(\.intValue), [16, 16])
        XCTAssertEqual((config["widths"] as? [NSNumber])?.map(\.intValue), [4, 4, 4, 4, 4, 4, 4, 4])

        // --size recomputes the shapes for another input.
        let resized = try jsonObject(assertSuccess(["info", model, "--json", "--size", "24,20"]))
        let shapes = try XCTUnwrap(resized["layers"] as? [[String: Any]]).map { ($0["output_shape"] as? [NSNumber])?.map(\.intValue) }
        XCTAssertEqual(shapes[0], [1, 6, 24, 20])
        XCTAssertEqual(shapes[9], [1, 10, 6, 5])
    }

    func testInfoText() throws {
        let model = try baseModel()
        let out = assertSuccess(["info", model])
        XCTAssertTrue(out.contains("v1_9layer"), out)
        XCTAssertTrue(out.contains(model), out)
        // One row per node: node number, paper index of B-cos layers, name, output shape.
        for (i, paper, row) in [(0, "", "[1, 6, 16, 16]"), (3, "L3", "[1, 4, 8, 8]"), (9, "L9", "[1, 10, 4, 4]"),
                                (11, "", "[1, 10]")] {
            XCTAssertTrue(out.split(separator: "\n").contains {
                $0.hasPrefix(String(i).leftPadded(5) + " " + paper.leftPadded(5)) && $0.contains(row)
            }, "no row \(i) with \(row) in:\n\(out)")
        }
        let rows = out.split(separator: "\n").filter {
            Int($0.prefix(5).trimmingCharacters(in: .whitespaces)) != nil && $0.dropFirst(5).hasPrefix(" ")
        }
        XCTAssertEqual(rows.count, 12, "layer rows in:\n\(out)")
    }

    // MARK: - explain

    func testExplainJSON() throws {
        let model = try baseModel()
        let image = try writePNG()
        let out = tmp.file("pngs")
        let json = try jsonObject(assertSuccess(["explain", "--model", model, "--image", image, "--json", "--out", out]))
        let logits = try numbers(json["logits"])
        XCTAssertEqual(logits.count, 10)
        let argmax = logits.indices.max { logits[$0] < logits[$1] }!
        XCTAssertEqual((json["predicted"] as? NSNumber)?.intValue, argmax)
        XCTAssertEqual((json["target_class"] as? NSNumber)?.intValue, argmax)
        XCTAssertEqual(json["target"] as? String, "logit \(argmax) (\(argmax))")
        let probabilities = try numbers(json["probabilities"])
        for (p, l) in zip(probabilities, logits) { XCTAssertEqual(p, 1 / (1 + exp(-l)), accuracy: 1e-5) }

        let contributions = try matrix(json["contributions"])
        XCTAssertEqual(contributions.count, 16)
        XCTAssertTrue(contributions.allSatisfy { $0.count == 16 })
        let explained = try XCTUnwrap((json["explained_value"] as? NSNumber)?.doubleValue)
        let completeness = try XCTUnwrap((json["completeness_error"] as? NSNumber)?.doubleValue)
        // Completeness checked here too, not only as reported: sum of contributions = logit - bias. A float32
        // sum carries errors relative to the mass Σ|c| of its terms (not to the sum, which may cancel).
        let mass = contributions.joined().reduce(0) { $0 + abs($1) }
        XCTAssertLessThan(completeness, 1e-4 * mass)
        let bias = log(1.0 / 9)  // bcos init's default log(1 / (K - 1))
        let total = contributions.joined().reduce(0, +)
        XCTAssertEqual(total, explained, accuracy: 1e-4 * mass)
        XCTAssertEqual(explained, logits[argmax] - bias, accuracy: 1e-4 * mass + Self.float32Rounding(logits[argmax]))
        XCTAssertGreaterThan(contributions.joined().map(abs).max()!, 0)

        // --out: two PNGs, upscaled to >= 256 px (16 x 16 -> factor 16).
        let files = try XCTUnwrap(json["files"] as? [String])
        XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent }, ["image_contributions.png", "image_explanation.png"])
        for f in files {
            let png = try PNG.read(f)
            XCTAssertEqual(png.width, 256, f)
            XCTAssertEqual(png.height, 256, f)
        }
        // Explicit --upscale.
        let out2 = tmp.file("pngs2")
        assertSuccess(["explain", "--model", model, "--image", image, "--out", out2, "--upscale", "3"])
        XCTAssertEqual(try PNG.read(out2 + "/image_contributions.png").width, 48)
        XCTAssertEqual(try PNG.read(out2 + "/image_explanation.png").height, 48)
    }

    /// What float32 rounding of these (printed) logits can add to a quantity computed from them: two ulps each.
    /// A logit difference or a logit minus the bias may cancel far below the logits' own size.
    static func float32Rounding(_ values: Double...) -> Double {
        values.reduce(0) { $0 + 2 * Double(Float($1).ulp.magnitude) }
    }

    func testExplainText() throws {
        let out = assertSuccess(["explain", "--model", Self.cifarModel, "--image", Self.cifarImage])
        XCTAssertTrue(out.contains("predicted  1 (automobile)"), out)
        XCTAssertTrue(out.contains("completeness"), out)
    }

    /// Every kind of target, on the CIFAR-10 fixture model; each explanation must be complete.
    func testTargetKinds() throws {
        let base = ["explain", "--model", Self.cifarModel, "--image", Self.cifarImage, "--json"]
        let bias = log(0.1 / 0.9)
        func explain(_ target: String) throws -> (json: [String: Any], logits: [Double], value: Double) {
            let json = try jsonObject(assertSuccess(base + ["--target", target]))
            let contributions = try matrix(json["contributions"])
            XCTAssertEqual(contributions.count, 32, target)
            let value = try XCTUnwrap((json["explained_value"] as? NSNumber)?.doubleValue, target)
            let total = contributions.joined().reduce(0, +)
            let mass = contributions.joined().reduce(0) { $0 + abs($1) }
            XCTAssertEqual(total, value, accuracy: 1e-4 * mass, "completeness of \(target)")
            XCTAssertGreaterThan(abs(value), 0, target)
            return (json, try numbers(json["logits"]), value)
        }
        let order = try explain("predicted").logits.enumerated().sorted { $0.element > $1.element }.map(\.offset)

        let cat = try explain("cat")
        XCTAssertEqual((cat.json["target_class"] as? NSNumber)?.intValue, 3)
        XCTAssertEqual(cat.json["target"] as? String, "logit 3 (cat)")
        XCTAssertEqual(cat.value, cat.logits[3] - bias, accuracy: 1e-4 * abs(cat.value) + Self.float32Rounding(cat.logits[3]))
        let byIndex = try explain("3")
        XCTAssertEqual(try matrix(byIndex.json["contributions"]), try matrix(cat.json["contributions"]))

        let delta = try explain("top2-delta")
        XCTAssertEqual((delta.json["target_classes"] as? [NSNumber])?.map(\.intValue), [order[0], order[1]])
        XCTAssertEqual(delta.value, delta.logits[order[0]] - delta.logits[order[1]],
                       accuracy: 1e-4 * abs(delta.value) + Self.float32Rounding(delta.logits[order[0]], delta.logits[order[1]]))

        let diff = try explain("cat-dog")
        XCTAssertEqual((diff.json["target_classes"] as? [NSNumber])?.map(\.intValue), [3, 5])
        XCTAssertEqual(diff.value, diff.logits[3] - diff.logits[5],
                       accuracy: 1e-4 * abs(diff.value) + Self.float32Rounding(diff.logits[3], diff.logits[5]))
        // Linearity: the map of A-B is the map of A minus the map of B.
        let dog = try explain("dog")
        let expectDiff = zip(try matrix(cat.json["contributions"]).joined(), try matrix(dog.json["contributions"]).joined())
            .map { Float($0 - $1) }
        XCTAssertNil(TestSupport.compare(try matrix(diff.json["contributions"]).joined().map { Float($0) }, expectDiff))

        let sum = try explain("4:3")
        XCTAssertEqual(sum.json["target_layer"] as? String, "4")
        XCTAssertEqual((sum.json["target_channel"] as? NSNumber)?.intValue, 3)
        XCTAssertNil(sum.json["target_position"])

        let max = try explain("4:3@max")
        let maxPos = try XCTUnwrap((max.json["target_position"] as? [NSNumber])?.map(\.intValue))
        XCTAssertEqual(maxPos.count, 2)
        XCTAssertTrue(maxPos.allSatisfy { (0..<16).contains($0) }, "\(maxPos)")  // layer 4 is 16x16

        let at = try explain("4:3@2,1")
        XCTAssertEqual((at.json["target_position"] as? [NSNumber])?.map(\.intValue), [2, 1])
        XCTAssertEqual(at.json["target"] as? String, "layer 4 channel 3 at (2, 1)")
        // The explicit position of the max gives the same map as @max.
        let atMax = try explain("4:3@\(maxPos[0]),\(maxPos[1])")
        XCTAssertEqual(try matrix(atMax.json["contributions"]), try matrix(max.json["contributions"]))
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
