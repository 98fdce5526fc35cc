import BcosData
import BcosEngine
import Foundation
import XCTest

/// `bcos neurons`, the dataset input (`--data --index`) and the picture options of `bcos explain`.
final class NeuronsCLITests: CLITestCase {
    /// The base model's activations of node `node` for the PNG at `image`, `[C][H*W]`.
    func activations(model path: String, image: String, node: Int) throws -> [[Float]] {
        let m = try BcosModel.load(path)
        let img = try PNG.read(image)
        let x = m.encode(Tensor(shape: [1, 3, img.height, img.width], data: img.planarRGB()))
        let act = m.network.forward(x, record: .explanation).outputs[node]!
        let c = act.shape[1], p = act.count / c
        return (0..<c).map { Array(act.data[($0 * p)..<(($0 + 1) * p)]) }
    }

    func testEveryLayerRanksByMaxActivationAndExplainsCompletely() throws {
        let model = try baseModel(), image = try writePNG()
        let nodes = try BcosModel.load(model).network.nodes
        for node in 1..<nodes.count {
            let json = try jsonObject(assertSuccess(["neurons", "--model", model, "--image", image, "--layer", "#\(node)",
                                                     "--top", "3", "--json"]))
            XCTAssertEqual(json["layer"] as? String, nodes[node].name)
            let planes = try activations(model: model, image: image, node: node)
            let best = planes.map { $0.max()! }
            let expected = best.indices.sorted { best[$0] > best[$1] }.prefix(3)
            let rows = try XCTUnwrap(json["neurons"] as? [[String: Any]])
            XCTAssertEqual(rows.count, min(3, planes.count), "node \(node)")
            for (row, channel) in zip(rows, expected) {
                let c = try XCTUnwrap(row["channel"] as? Int)
                let a = try XCTUnwrap((row["activation"] as? NSNumber)?.floatValue)
                // Ties between channels may order either way; the values must agree.
                XCTAssertEqual(a, best[channel], accuracy: 1e-5 * max(1, abs(a)), "node \(node)")
                XCTAssertEqual(a, best[c], accuracy: 1e-5 * max(1, abs(a)), "node \(node)")
                let pos = try numbers(row["position"]).map { Int($0) }
                let w = planes[c].count == 1 ? 1 : Int(Double(planes[c].count).squareRoot())
                XCTAssertEqual(planes[c][pos[0] * w + pos[1]], a, "node \(node): the position holds the max")
                let value = try XCTUnwrap(row["explained_value"] as? Double)
                let err = try XCTUnwrap(row["completeness_error"] as? Double)
                XCTAssertLessThan(err, 1e-4 * max(1, value), "node \(node) channel \(c): contributions sum to the activation")
            }
        }
    }

    func testMeanRankingUsesTheMeanOverPositions() throws {
        let model = try baseModel(), image = try writePNG()
        let json = try jsonObject(assertSuccess(["neurons", "--model", model, "--image", image, "--layer", "#3",
                                                 "--top", "4", "--by", "mean", "--json"]))
        let planes = try activations(model: model, image: image, node: 3)
        let means = planes.map { $0.reduce(0, +) / Float($0.count) }
        let rows = try XCTUnwrap(json["neurons"] as? [[String: Any]])
        let got = try rows.map { try XCTUnwrap(($0["activation"] as? NSNumber)?.floatValue) }
        XCTAssertEqual(got.count, 4)
        for (g, e) in zip(got, means.sorted(by: >).prefix(4)) { XCTAssertEqual(g, e, accuracy: 1e-4 * max(1, abs(e))) }
    }

    func testWritesEachNeuronsPicturesAndAPanelAndNeverOverwrites() throws {
        let model = try baseModel(), image = try writePNG()
        let out = tmp.file("neurons")
        let json = try jsonObject(assertSuccess(["neurons", "--model", model, "--image", image, "--layer", "#2",
                                                 "--top", "2", "--out", out, "--json", "--upscale", "4"]))
        let files = try XCTUnwrap(json["files"] as? [String])
        XCTAssertEqual(files.count, 5, "two PNGs per neuron and the panel: \(files)")
        for f in files {
            let png = try PNG.read(f)
            if f.hasSuffix("_neurons.png") {
                XCTAssertGreaterThan(png.width, 3 * 64, "image and two neurons side by side")
            } else {
                XCTAssertEqual(png.width, 64)
                XCTAssertEqual(png.height, 64)
            }
        }
        assertUserError(["neurons", "--model", model, "--image", image, "--layer", "#2", "--top", "2", "--out", out],
                        mentions: ["refusing to overwrite"])
        assertSuccess(["neurons", "--model", model, "--image", image, "--layer", "#2", "--top", "2", "--out", out, "--force"])
    }

    func testNeuronsRefusals() throws {
        let model = try baseModel(), image = try writePNG()
        let args = ["neurons", "--model", model, "--image", image]
        assertUserError(args + ["--layer", "nope"], mentions: ["nope"])
        assertUserError(args + ["--layer", "#0"], mentions: ["0"])
        assertUserError(args + ["--layer", "#99"], mentions: ["99"])
        assertUserError(args + ["--layer", "#x"], mentions: ["#x"])
        assertUserError(args + ["--layer", "#1", "--top", "0"], mentions: ["--top"])
        assertUserError(args + ["--layer", "#1", "--by", "median"], mentions: ["median"])
        assertUserError(["neurons", "--model", model, "--layer", "#1"], mentions: ["--image"])
    }

    /// root/test/c0..c9/k.png: 16x16 RGB, so the base model (10 classes) takes it.
    func makeDataset(perClass: Int = 2) throws -> String {
        let root = tmp.file("data")
        for c in 0..<10 {
            let dir = "\(root)/test/c\(c)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for k in 0..<perClass {
                var rng = SplitMix64(seed: UInt64(c * 10 + k))
                try PNG.write(Image(width: 16, height: 16, rgb: (0..<768).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 56) }),
                              to: "\(dir)/\(k).png")
            }
        }
        return root
    }

    func testExplainADatasetImageByIndexEqualsExplainingTheFile() throws {
        let model = try baseModel(), data = try makeDataset()
        let d = try Dataset.load(data, split: .test)
        let index = 5
        let file = "\(data)/test/\(d.classes[d.labels[index]])"
        let byIndex = try jsonObject(assertSuccess(["explain", "--model", model, "--data", data, "--index", "\(index)", "--json"]))
        XCTAssertEqual(byIndex["true_class"] as? Int, d.labels[index])
        // The same pixels as a PNG file give the same logits.
        let rgb = d.image(index)
        let p = 256
        let png = tmp.file("same.png")
        try PNG.write(Image(width: 16, height: 16, rgb: (0..<(p * 3)).map { UInt8((rgb[($0 % 3) * p + $0 / 3] * 255).rounded()) }),
                      to: png)
        let byFile = try jsonObject(assertSuccess(["explain", "--model", model, "--image", png, "--json"]))
        XCTAssertEqual(try numbers(byIndex["logits"]), try numbers(byFile["logits"]))
        XCTAssertTrue(FileManager.default.fileExists(atPath: file))
        assertUserError(["explain", "--model", model, "--data", data], mentions: ["--index"])
        assertUserError(["explain", "--model", model, "--data", data, "--index", "20"], mentions: ["20", "0...19"])
        assertUserError(["explain", "--model", model, "--data", data, "--index", "1", "--split", "val"], mentions: ["val"])
        assertUserError(["explain", "--model", model, "--data", data, "--index", "1", "--image", png], mentions: ["not both"])
        assertUserError(["explain", "--model", model, "--image", png, "--index", "1"], mentions: ["--index"])
    }

    /// A folder with a few of the model's classes (folders named after them) is relabelled to the model's classes.
    func testClassFoldersNamedAfterSomeOfTheModelsClasses() throws {
        let model = try baseModel()  // classes "0" ... "9"
        let root = tmp.file("few")
        for (c, n) in [("7", 3), ("2", 2)] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(c)", withIntermediateDirectories: true)
            for k in 0..<n { _ = try writePNG("few/\(c)/\(k).png", seed: UInt64(k + 10)) }
        }
        let json = try jsonObject(assertSuccess(["eval", "--model", model, "--data", root, "--json"]))
        XCTAssertEqual(json["images"] as? Int, 5)
        let explained = try jsonObject(assertSuccess(["explain", "--model", model, "--data", root, "--index", "0", "--json"]))
        XCTAssertEqual(explained["true_class"] as? Int, 2, "folder '2' (sorted first) is the model's class 2")
        try FileManager.default.createDirectory(atPath: "\(root)/cat", withIntermediateDirectories: true)
        _ = try writePNG("few/cat/0.png")
        assertUserError(["eval", "--model", model, "--data", root], mentions: ["'cat'", "3 classes", "10"])
    }

    func testPanelOverlayAndColourBar() throws {
        let model = try baseModel(), image = try writePNG()
        let out = tmp.file("pictures")
        let json = try jsonObject(assertSuccess(["explain", "--model", model, "--image", image, "--out", out, "--panel",
                                                 "--colour-bar", "--upscale", "10", "--json"]))
        let files = try XCTUnwrap(json["files"] as? [String])
        XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent },
                       ["image_contributions.png", "image_explanation.png", "image_panel.png"])
        let contributions = try PNG.read(files[0]), panel = try PNG.read(files[2])
        XCTAssertEqual(contributions.width, 160)
        XCTAssertGreaterThan(contributions.height, 160, "the colour bar goes under the map")
        XCTAssertGreaterThan(panel.width, 4 * 160, "four tiles side by side")
        // --overlay: where the contribution is exactly 0 the pixel is the grey image; without it, white.
        assertUserError(["explain", "--model", model, "--image", image, "--overlay"], mentions: ["--out"])
        let plain = tmp.file("plain"), over = tmp.file("over")
        assertSuccess(["explain", "--model", model, "--image", image, "--out", plain, "--upscale", "1"])
        assertSuccess(["explain", "--model", model, "--image", image, "--out", over, "--upscale", "1", "--overlay"])
        let a = try PNG.read(plain + "/image_contributions.png"), b = try PNG.read(over + "/image_contributions.png")
        XCTAssertEqual(a.width, 16)
        XCTAssertNotEqual(a.rgba, b.rgba)
        for method in ["gradcam"] {
            let j = try jsonObject(assertSuccess(["explain", "--model", model, "--image", image, "--method", method,
                                                  "--out", out, "--panel", "--json"]))
            let f = try XCTUnwrap(j["files"] as? [String])
            XCTAssertTrue(f.contains { $0.hasSuffix("image_\(method)_panel.png") }, "\(f)")
        }
    }
}
