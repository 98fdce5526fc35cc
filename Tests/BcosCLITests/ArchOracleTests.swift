import BcosData
import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// The ImageNet architectures against the official code (tools/make_arch_fixtures.py): reduced-width networks with
/// random weights (and random batch-norm statistics), saved by the official code with torch.save, must give the
/// official logits and W(x) at 224 px. Set BCOS_FULL_ARCH_FIXTURES to a directory written by
/// `tools/make_arch_fixtures.py --full DIR` to run the same checks on the full-size networks.
final class ArchOracleTests: CLITestCase {
    struct Fixture {
        var name: String
        var weights: String
        var reference: String
        var input: String
        var predicted: Int
        var config: [String: Any]
        /// How far the official code itself lands in float32 from its float64 reference, per quantity.
        var torchFloat32: [String: Double]
    }

    static func fixtures(in dir: String) throws -> [Fixture] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/fixtures.json"))
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return try list.map { f in
            Fixture(name: try XCTUnwrap(f["name"] as? String), weights: dir + "/" + (try XCTUnwrap(f["weights"] as? String)),
                    reference: dir + "/" + (try XCTUnwrap(f["reference"] as? String)),
                    input: dir + "/" + (try XCTUnwrap(f["input"] as? String)), predicted: try XCTUnwrap(f["predicted"] as? Int),
                    config: try XCTUnwrap(f["config"] as? [String: Any]),
                    torchFloat32: f["torch_float32_error"] as? [String: Double] ?? [:])
        }
    }

    static let dir = TestSupport.repoRoot + "/Tests/BcosEngineTests/ArchFixtures"

    func configJSON(_ f: Fixture) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: f.config, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Imports the official checkpoint, explains the predicted class and compares with the references.
    func check(_ f: Fixture, nearTiesAllowed: Bool = false) throws {
        let cfg = try ModelConfig.parse(json: try configJSON(f), source: f.name)
        let ckpt = try TorchCheckpoint.load(f.weights)
        let (weights, _) = try Zoo.match(ckpt.tensors, skipped: ckpt.skipped, config: cfg, source: f.name)
        let model = try BcosModel(config: cfg, weights: weights, source: f.name)
        let ref = Dictionary(uniqueKeysWithValues: try Safetensors.load(f.reference).tensors.map { ($0.name, $0.tensor) })
        let image = try PNG.read(f.input)
        let x = model.encode(Tensor(shape: [1, 3, image.height, image.width], data: image.planarRGB()))
        // The class the reference explained (random full-size nets can have top-2 margins below float32 rounding).
        let e = try model.explain(x, target: .logit(f.predicted))
        // 1e-4 of the largest reference value, or twice what the official code itself misses by in float32 where
        // that is more (deep full-size networks accumulate float32 rounding).
        func tolerance(_ key: String) -> Double { max(1e-4, 2 * (f.torchFloat32[key] ?? 0)) }
        func relative(_ a: [Float], _ b: [Float]) -> Double {
            let m = b.reduce(0.0) { max($0, abs(Double($1))) }
            return zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) } / max(m, 1e-300)
        }
        let refLogits = try XCTUnwrap(ref["logits_minus_bias"]).data
        let ours = e.logits.map { $0 - model.logitBias }
        XCTAssertNil(TestSupport.compare(ours, refLogits, rtol: tolerance("logits_minus_bias"), atol: 0),
                     "\(f.name): logits - bias")
        if !nearTiesAllowed { XCTAssertEqual(e.predicted, f.predicted, "\(f.name): predicted class") }
        let contributions = try XCTUnwrap(ref["contributions"])
        let index = try XCTUnwrap(ref["weights_sample_index"]).data.map { Int($0) }
        let sample = try XCTUnwrap(ref["weights_sample"]).data
        let ourSample = index.map { e.weights.data[$0] }
        if nearTiesAllowed && cfg.maxOut > 1 {
            // A full-size MaxOut network has millions of units, some within float32 rounding of a tie on any
            // input; where float32 and float64 pick different branches, W(x) differs locally (the logits do not).
            for (name, ours, theirs, key) in [("contribution map", e.contributions.data, contributions.data, "contributions"),
                                              ("W(x)", ourSample, sample, "weights_sample")] {
                let m = theirs.reduce(0.0) { max($0, abs(Double($1))) }
                let off = zip(ours, theirs).filter { abs(Double($0.0) - Double($0.1)) > tolerance(key) * m }.count
                XCTAssertLessThanOrEqual(Double(off), 0.01 * Double(theirs.count), "\(f.name): \(name): \(off) values off")
            }
        } else {
            XCTAssertNil(TestSupport.compare(e.contributions.data, contributions.data, rtol: tolerance("contributions"), atol: 0),
                         "\(f.name): contribution map")
            XCTAssertNil(TestSupport.compare(ourSample, sample, rtol: tolerance("weights_sample"), atol: 0), "\(f.name): W(x)")
        }
        print(String(format: "%@: relative error vs float64: logits %.1e, contributions %.1e, W(x) %.1e "
                     + "(official code in float32: %.1e, %.1e, %.1e)", f.name, relative(ours, refLogits),
                     relative(e.contributions.data, contributions.data), relative(ourSample, sample),
                     f.torchFloat32["logits_minus_bias"] ?? .nan, f.torchFloat32["contributions"] ?? .nan,
                     f.torchFloat32["weights_sample"] ?? .nan))
        XCTAssertLessThan(e.completenessError, 1e-4 * max(abs(e.explainedValue), 1e-30) + 1e-6, "\(f.name): completeness")
    }

    func testReducedNetworksMatchTheOfficialCode() throws {
        let all = try Self.fixtures(in: Self.dir)
        XCTAssertEqual(Set(all.map { $0.config["arch"] as? String ?? "" }),
                       ["v2_resnet", "v2_densenet", "v2_vgg", "v2_convnext", "v1_resnet", "v1_densenet", "v1_vgg"])
        for f in all { try check(f) }
    }

    func testFullSizeNetworksMatchTheOfficialCode() throws {
        guard let dir = ProcessInfo.processInfo.environment["BCOS_FULL_ARCH_FIXTURES"] else {
            throw XCTSkip("set BCOS_FULL_ARCH_FIXTURES to the output of tools/make_arch_fixtures.py --full DIR")
        }
        for f in try Self.fixtures(in: dir) { try check(f, nearTiesAllowed: true) }
    }

    /// The official eval transform: shorter side to 256 with Pillow's antialiased bilinear, centre crop 224
    /// (round half to even), from the JPEG the fixtures were made from.
    func testImageNetPreprocessingMatchesTorchvision() throws {
        let jpeg = try readImage(Self.dir + "/imagenet_input.jpg")
        let crop = jpeg.resizedShorterSide(to: 256).centerCropped(width: 224, height: 224)
        let want = try PNG.read(Self.dir + "/imagenet_input_224.png")
        XCTAssertEqual(crop.width, 224)
        XCTAssertEqual(crop.height, 224)
        let diff = zip(crop.rgba, want.rgba).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThanOrEqual(diff.max() ?? 0, 1, "byte-exact up to JPEG decoder rounding")
        XCTAssertLessThan(Double(diff.reduce(0, +)) / Double(diff.count), 0.01)
    }

    /// As a user would: `bcos import` the official file, then `bcos explain` the JPEG (preprocessed as the
    /// official eval transform) gives the official logits and contribution map.
    func testImportThenExplainTheJPEG() throws {
        for f in try Self.fixtures(in: Self.dir) where ["v2_resnet50_tiny", "v1_densenet121_tiny"].contains(f.name) {
            let cfgPath = tmp.file("\(f.name).json")
            var config = f.config
            config["resize"] = 256
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: cfgPath))
            let model = tmp.file("\(f.name).safetensors")
            let out = assertSuccess(["import", f.weights, "--config", cfgPath, "--out", model])
            XCTAssertTrue(out.contains("wrote"), out)
            let json = try jsonObject(assertSuccess(["explain", "--model", model, "--image", Self.dir + "/imagenet_input.jpg",
                                                     "--json"]))
            let ref = Dictionary(uniqueKeysWithValues: try Safetensors.load(f.reference).tensors.map { ($0.name, $0.tensor) })
            let bias = try XCTUnwrap(f.config["logit_bias"] as? Double)
            let logits = try numbers(json["logits"]).map { Float($0 - bias) }
            XCTAssertNil(TestSupport.compare(logits, try XCTUnwrap(ref["logits_minus_bias"]).data, rtol: 2e-3, atol: 0), f.name)
            XCTAssertEqual(json["predicted"] as? Int, f.predicted, f.name)
            let contributions = try matrix(json["contributions"]).joined().map { Float($0) }
            let refContributions = try XCTUnwrap(ref["contributions"]).data
            XCTAssertNil(TestSupport.compare(contributions, refContributions, rtol: 2e-3, atol: 0), "\(f.name): contribution map")
        }
    }

    func testImportRefusesAMismatchedCheckpoint() throws {
        let all = try Self.fixtures(in: Self.dir)
        let resnet = try XCTUnwrap(all.first { $0.name == "v2_resnet18_tiny" })
        let densenet = try XCTUnwrap(all.first { $0.name == "v2_densenet_tiny" })
        let cfgPath = tmp.file("resnet.json")
        try JSONSerialization.data(withJSONObject: resnet.config).write(to: URL(fileURLWithPath: cfgPath))
        assertUserError(["import", densenet.weights, "--config", cfgPath, "--out", tmp.file("m.safetensors")],
                        mentions: ["unexpected key 'features.conv0.linear.weight'"])
        assertUserError(["import", resnet.weights, "--arch", "resnet50", "--out", tmp.file("m.safetensors")],
                        mentions: ["conv1.linear.weight", "shape"])
        assertUserError(["import", resnet.weights, "--arch", "resnet51", "--out", tmp.file("m.safetensors")],
                        mentions: ["resnet51"])
        var narrower = resnet.config
        narrower["layers"] = [2, 2, 2]
        try JSONSerialization.data(withJSONObject: narrower).write(to: URL(fileURLWithPath: cfgPath))
        assertUserError(["import", resnet.weights, "--config", cfgPath, "--out", tmp.file("m.safetensors")],
                        mentions: ["unexpected key 'layer4.0.conv1.linear.weight'"])
        let evil = TestSupport.repoRoot + "/Tests/BcosEngineTests/ImportFixtures/evil_zip.pth"
        assertUserError(["import", evil, "--arch", "resnet18", "--out", tmp.file("m.safetensors")], mentions: ["refusing"])
        assertUserError(["import", tmp.file("missing.pth"), "--arch", "resnet18", "--out", tmp.file("m.safetensors")],
                        mentions: ["missing.pth"])
    }
}
