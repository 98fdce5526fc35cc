import BcosData
import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// `bcos localize` end to end on an image folder whose labels are a random model's own confident predictions.
final class LocalizeCLITests: CLITestCase {
    /// A random 6-class RGB model (a large logit bias makes every prediction confident) and `test/<class>/*.png`
    /// images labelled with its predictions, three per class, for at least five classes (a 2x2 grid needs more than
    /// four); the folders are named after the model's classes, so they take its labels.
    func makeGame() throws -> (model: String, data: String) {
        let cfg = ModelConfig(numClasses: 6, imageSize: [12, 12], widths: [4, 4, 6, 6, 6, 8, 8, 8], b: 2, maxOut: 2,
                              scale: 0.5, logitTemperature: 0.1, logitBias: 50, classes: (0..<6).map { "c\($0)" })
        var chosen: BcosModel?
        var images = [[Int]](repeating: [], count: 6)
        var pixels = [[UInt8]]()
        for seed in UInt64(1)...20 {
            let model = try BcosModel.random(config: cfg, seed: seed)
            var rng = SplitMix64(seed: seed &+ 100)
            images = [[Int]](repeating: [], count: 6)
            pixels = []
            for _ in 0..<40 where images.filter({ $0.count == 3 }).count < 6 {
                let batch = (0..<16).map { _ -> [UInt8] in
                    let base = rng.nextFloat(), spread = rng.nextFloat()
                    return (0..<(3 * 144)).map { _ in UInt8(255 * min(1, max(0, base + (rng.nextFloat() - 0.5) * spread))) }
                }
                let x = model.encode(Tensor(shape: [16, 3, 12, 12], data: batch.flatMap { $0.map { Float($0) / 255 } }))
                for (i, p) in model.predict(x).enumerated() where images[p].count < 3 {
                    images[p].append(pixels.count)
                    pixels.append(batch[i])
                }
            }
            if images.filter({ $0.count == 3 }).count >= 5 { chosen = model; break }
        }
        let model = try XCTUnwrap(chosen, "a random model that predicts five of its six classes")
        let modelPath = tmp.file("game.safetensors")
        try model.save(to: modelPath)
        let root = tmp.file("game")
        for (c, list) in images.enumerated() where list.count == 3 {
            let dir = "\(root)/test/c\(c)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (j, index) in list.enumerated() {
                // Planar RGB -> interleaved.
                let planar = pixels[index]
                let rgb = (0..<144).flatMap { p in [planar[p], planar[144 + p], planar[288 + p]] }
                try PNG.write(Image(width: 12, height: 12, rgb: rgb), to: "\(dir)/\(j).png")
            }
        }
        return (modelPath, root)
    }

    func testSeveralSmoothingsTableJSONAndPictures() throws {
        let (model, data) = try makeGame()
        let args = ["localize", "--model", model, "--data", data, "--grid", "2", "--grids", "3", "--methods", "bcos,grad"]
        let json = try jsonObject(assertSuccess(args + ["--smooth", "1,5", "--json"]))
        XCTAssertEqual(json["smooths"] as? [Int], [1, 5])
        XCTAssertEqual(json["grids"] as? Int, 3)
        let methods = try XCTUnwrap(json["methods"] as? [[String: Any]])
        XCTAssertEqual(methods.map { $0["name"] as? String }, ["bcos", "grad", "bcos", "grad"])
        XCTAssertEqual(methods.map { $0["smooth"] as? Int }, [1, 1, 5, 5])
        XCTAssertEqual(methods.map { $0["cells"] as? Int }, [12, 12, 12, 12])
        // The unsmoothed scores are the ones a run without --smooth gives.
        let plain = try XCTUnwrap(try jsonObject(assertSuccess(args + ["--json"]))["methods"] as? [[String: Any]])
        XCTAssertEqual(plain[0]["scores"] as? [Double], methods[0]["scores"] as? [Double])

        let out = tmp.file("plots")
        let text = assertSuccess(args + ["--smooth", "1,5", "--out", out])
        XCTAssertTrue(text.contains("smoothing none and 5x5"), text)
        XCTAssertTrue(text.contains("method   smooth  grids"), text)
        for name in ["localisation_boxplot.png", "localisation_example.png"] {
            let image = try PNG.read("\(out)/\(name)")
            XCTAssertGreaterThan(image.width, 100, name)
        }
        // Existing pictures are kept unless --force; bad smoothing sizes are refused before any work.
        assertUserError(args + ["--out", out], mentions: ["localisation_boxplot.png"])
        assertUserError(args + ["--smooth", "4"], mentions: ["--smooth '4'"])
        assertUserError(args + ["--smooth", "1,1"], mentions: ["--smooth '1,1'"])
        assertUserError(args + ["--methods", "bcos,nope"], mentions: ["nope"])
    }
}
