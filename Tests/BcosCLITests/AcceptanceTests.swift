import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// The acceptance test: a network initialised at random in the official Python code and saved into a file written
/// only from the README's "Model format" section gives the official logits and contribution maps through
/// `bcos explain --json`.
///
/// Fixtures (Tests/BcosCLITests/Fixtures/), regenerated from the repository root with (see tools/README.md):
///
///     python tools/make_cli_fixture.py --v1 /tmp/bcos-v1
///
/// - `v1_cifar_small.model.safetensors`: the official v1 9-layer net (moboehle/B-cos `modules/bcosconv2d.py`),
///   widths 8,8,16,16,16,16,16,16, B=2, MaxOut 2, scale 10^(-2+1.5*0.5), T=100, bias log(0.1/0.9), 10 CIFAR-10
///   classes, seeded; saved with `safetensors.torch.save_file` and `bcos.config` metadata.
/// - `image.png`: 32x32 8-bit RGB of seeded random pixels.
/// - `expected.json`: logits, predicted class and the contribution map of the predicted logit, computed in float64
///   by the official code in explanation mode on the PNG read back as uint8 / 255 with AddInverse.
final class AcceptanceTests: CLITestCase {
    static let dir = TestSupport.repoRoot + "/Tests/BcosCLITests/Fixtures/"

    struct Expected {
        let logits: [Double]
        let predicted: Int
        let contributions: [[Double]]
    }

    func expected() throws -> Expected {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "expected.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Expected(logits: try numbers(json["logits"]),
                        predicted: try XCTUnwrap((json["predicted"] as? NSNumber)?.intValue),
                        contributions: try matrix(json["contributions"]))
    }

    func testOfficialLogitsAndContributions() throws {
        let ref = try expected()
        XCTAssertEqual(ref.logits.count, 10)
        XCTAssertEqual(ref.contributions.count, 32)
        let out = assertSuccess(["explain", "--model", Self.dir + "v1_cifar_small.model.safetensors",
                                 "--image", Self.dir + "image.png", "--json"])
        let json = try jsonObject(out)
        let logits = try numbers(json["logits"])
        let contributions = try matrix(json["contributions"])
        XCTAssertEqual((json["predicted"] as? NSNumber)?.intValue, ref.predicted)
        XCTAssertEqual(json["predicted_class"] as? String, "automobile")
        XCTAssertEqual((json["target_class"] as? NSNumber)?.intValue, ref.predicted)
        XCTAssertEqual(contributions.count, 32)
        XCTAssertTrue(contributions.allSatisfy { $0.count == 32 })
        // max |ours - ref| <= 1e-4 * max |ref| + 1e-6
        if let m = TestSupport.compare(logits.map { Float($0) }, ref.logits.map { Float($0) }) {
            XCTFail("logits: \(m)")
        }
        if let m = TestSupport.compare(contributions.joined().map { Float($0) },
                                       ref.contributions.joined().map { Float($0) }) {
            XCTFail("contributions: \(m)")
        }
    }

    /// The fixture's config uses only keys that the README's "Model format" section documents.
    func testFixtureConfigUsesDocumentedKeys() throws {
        let readmePath = TestSupport.repoRoot + "/README.md"
        guard let readme = try? String(contentsOfFile: readmePath, encoding: .utf8),
              let start = readme.range(of: "## Model format") else {
            throw XCTSkip("README.md has no 'Model format' section yet")
        }
        // The section runs to the next heading of level 1 or 2 (code blocks in it may hold `# comments`).
        let rest = readme[start.upperBound...]
        let section = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        let contents = try Safetensors.load(Self.dir + "v1_cifar_small.model.safetensors")
        let text = try XCTUnwrap(contents.metadata[BcosModel.configKey])
        let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        for key in config.keys.sorted() {
            XCTAssertTrue(section.contains("`\(key)`"), "config key '\(key)' is not documented in README 'Model format'")
        }
        XCTAssertTrue(section.contains("bcos.config"))
        XCTAssertEqual(contents.tensors.map(\.name), (0..<9).map { "\($0).linear.weight" })
        XCTAssertTrue(section.contains("linear.weight"), "tensor keys are not documented in README 'Model format'")
    }
}
