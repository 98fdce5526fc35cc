@testable import BcosEngine
import Foundation
import XCTest

/// The zoo configurations build the official architectures: parameter counts as the official code reports them
/// (B-cos weights plus batch-norm weights; ARCH_SPEC tables), class names, preprocessing.
final class ZooTests: XCTestCase {
    /// Official `sum(p.numel() for p in model.parameters())` (v1 Inception-v3 without its training-only aux head).
    let officialParameters: [String: Int] = [
        "resnet18": 11_693_120, "resnet34": 21_797_568, "resnet50": 25_538_880, "resnet101": 44_504_896,
        "resnet152": 60_125_504, "resnext50_32x4d": 25_003_200, "densenet121": 7_945_440, "densenet161": 28_584_144,
        "densenet169": 14_078_688, "densenet201": 19_907_808, "vgg11_bnu": 132_855_872, "resnet50_long": 25_538_880,
        "resnet152_long": 60_125_504, "densenet121_long": 7_945_440, "convnext_tiny": 28_543_392,
        "convnext_base": 88_466_304, "convnext_tiny_bnu": 28_543_392, "convnext_base_bnu": 88_466_304,
        "v1_vgg11": 265_706_240,
        "v1_resnet34": 43_578_112, "v1_densenet121": 15_807_232, "v1_inception_v3": 47_600_000,
    ]

    func testEveryZooModelHasTheOfficialParameterCount() throws {
        XCTAssertEqual(Set(Zoo.names), Set(officialParameters.keys))
        for name in Zoo.names {
            let cfg = try Zoo.config(name)
            let shapes = Architectures.parameterShapes(cfg)
            let parameters = shapes.filter { !$0.key.hasSuffix(".running_var") }.reduce(0) { $0 + $1.shape.reduce(1, *) }
            XCTAssertEqual(parameters, officialParameters[name], name)
            XCTAssertEqual(Set(shapes.map(\.key)).count, shapes.count, "\(name): keys are unique")
            XCTAssertEqual(cfg.classes.count, 1000)
            XCTAssertEqual(cfg.classes[0], "tench")
            XCTAssertEqual(cfg.resize, name == "v1_inception_v3" ? 320
                           : name.hasSuffix("_long") || name.hasPrefix("convnext") ? 232 : 256, name)
            XCTAssertNoThrow(try ModelConfig.parse(json: cfg.json(), source: name), "\(name): the config round-trips")
            var back = try ModelConfig.parse(json: cfg.json(), source: name)
            XCTAssertEqual(back.logitBias, cfg.logitBias, accuracy: 1e-12, name)  // JSON may drop the last digit
            back.logitBias = cfg.logitBias
            XCTAssertTrue(back == cfg, "\(name): the config round-trips through JSON")
        }
    }

    func testOfficialKeyNamesAndShapes() throws {
        let keys = { (name: String) in Dictionary(uniqueKeysWithValues: Architectures.parameterShapes(try Zoo.config(name))
                                                    .map { ($0.key, $0.shape) }) }
        let r50 = try keys("resnet50")
        XCTAssertEqual(r50["conv1.linear.weight"], [64, 6, 7, 7])
        XCTAssertEqual(r50["layer1.0.downsample.0.linear.weight"], [256, 64, 1, 1])
        XCTAssertEqual(r50["layer2.0.downsample.1.running_var"], [512])
        XCTAssertEqual(r50["fc.linear.weight"], [1000, 2048, 1, 1])
        XCTAssertEqual(try keys("resnext50_32x4d")["layer4.2.conv2.linear.weight"], [1024, 32, 3, 3])
        let d121 = try keys("densenet121")
        XCTAssertEqual(d121["features.denseblock1.denselayer2.conv1.linear.weight"], [128, 96, 1, 1])
        XCTAssertEqual(d121["features.transition3.conv.linear.weight"], [512, 1024, 1, 1])
        XCTAssertEqual(d121["classifier.linear.weight"], [1000, 1024, 1, 1])
        XCTAssertEqual(try keys("vgg11_bnu")["classifier.0.linear.weight"], [4096, 512, 7, 7])
        XCTAssertEqual(try keys("v1_vgg11")["0.classifier.2.linear.weight"], [2000, 4096, 1, 1])
        XCTAssertEqual(try keys("v1_resnet34")["0.layer2.0.downsample.0.linear.weight"], [256, 64, 1, 1])
        let inception = try keys("v1_inception_v3")
        XCTAssertEqual(inception["0.Mixed_6b.branch7x7_2.conv.linear.weight"], [256, 128, 1, 7])
        XCTAssertEqual(inception["0.fc.linear.weight"], [2000, 2048, 1, 1])
        let convnext = try keys("convnext_tiny")
        XCTAssertEqual(convnext["features.2.0.layer_scale"], [96, 1, 1])
        XCTAssertEqual(convnext["features.2.0.block.0.linear.weight"], [96, 1, 7, 7])
        XCTAssertEqual(convnext["features.3.1.linear.weight"], [192, 96, 2, 2])
        XCTAssertEqual(convnext["classifier.1.linear.weight"], [1000, 768, 1, 1])
        XCTAssertEqual(try keys("convnext_tiny_bnu")["features.1.running_var"], [96])
        XCTAssertThrowsError(try Zoo.config("resnet18_long"))
        XCTAssertThrowsError(try Zoo.config("alexnet")) { XCTAssertTrue("\($0)".contains("alexnet")) }
    }

    func testV1ScalesFollowTheOfficialFormula() throws {
        // ARCH_SPEC: scale = k_eff * sqrt(C_in) / scale_fact, with k_eff = sqrt(kh * kw) for rectangular kernels.
        let layout = Architectures.layout(try Zoo.config("v1_inception_v3"))
        var seen = 0
        for node in layout.nodes {
            guard case .conv(let s, let scale)? = node.spec else { continue }
            let k = s.kernelH == s.kernelW ? Double(s.kernelH) : Double(s.kernelH * s.kernelW).squareRoot()
            XCTAssertEqual(scale, k * Double(s.inChannels).squareRoot() / 200, accuracy: 1e-12, node.name)
            if node.name == "0.Mixed_6b.branch7x7_2.conv" { XCTAssertEqual(scale, 0.149666295, accuracy: 1e-8); seen += 1 }
            if node.name == "0.Conv2d_1a_3x3.conv" { XCTAssertEqual(scale, 0.0367423461, accuracy: 1e-9); seen += 1 }
        }
        XCTAssertEqual(seen, 2)
    }

    func testPaperLayerIndexCountsBcosLayers() throws {
        var cfg = try Zoo.config("densenet121")
        cfg.numClasses = 4
        cfg.classes = ["a", "b", "c", "d"]
        cfg.growthRate = 2
        cfg.numInitFeatures = 4
        let m = try BcosModel.random(config: cfg, seed: 1)
        let convs = m.convNodes
        XCTAssertEqual(convs.count, 121, "DenseNet-121 has 121 B-cos layers")
        XCTAssertEqual(try m.nodeIndex("layer 87"), convs[86])
        XCTAssertEqual(try m.nodeIndex("L87"), convs[86])
        XCTAssertEqual(try m.nodeIndex("layer87"), convs[86])
        XCTAssertEqual(try m.nodeIndex("features.conv0"), convs[0])
        XCTAssertThrowsError(try m.nodeIndex("L122")) { XCTAssertTrue("\($0)".contains("1...121")) }
        // The per-node labels `bcos info` and the explorer show agree with the names `--layer` takes.
        let paper = m.paperIndices
        XCTAssertEqual(paper.count, m.network.nodes.count)
        XCTAssertEqual(paper[convs[86]], 87)
        XCTAssertEqual(paper.compactMap { $0 }, Array(1...121))
        for (n, node) in convs.enumerated() { XCTAssertEqual(try m.nodeIndex("L\(paper[node]!)"), node, "layer \(n + 1)") }
    }
}
