import BcosData
import BcosEngine
import BcosTestSupport
import Foundation
import XCTest

/// `Network.forwardLocal` (recomputing only what a changed rectangle can reach) against full forward passes of the
/// changed images, on every architecture family: the official reduced networks of ArchOracleTests (ResNets with
/// strided 1x1 shortcuts, ResNeXt, DenseNet with average-pool transitions, VGG, ConvNeXt with 7x7 depthwise convs and
/// position norms) and the v1 CIFAR-10 net on a 3x3 localisation grid.
final class LocalForwardTests: CLITestCase {
    /// Variants of `x` with random values inside rectangles of `size` at `origins`; returns the largest difference
    /// between local and full logits, and how far the changes moved the logits, both relative to the largest logit.
    func check(_ model: BcosModel, _ x: Tensor, size: (h: Int, w: Int), origins: [(y: Int, x: Int)],
               seed: UInt64) -> (error: Double, moved: Double) {
        let c = x.shape[1], h = x.shape[2], w = x.shape[3], p = h * w
        var rng = SplitMix64(seed: seed)
        var values = Tensor(shape: [origins.count, c, size.h, size.w])
        for i in 0..<values.count { values.data[i] = rng.nextFloat() }
        var full = Tensor(shape: [origins.count, c, h, w])
        for (b, o) in origins.enumerated() {
            for ch in 0..<c {
                for k in 0..<p { full.data[(b * c + ch) * p + k] = x.data[ch * p + k] }
                for y in 0..<size.h {
                    for xx in 0..<size.w {
                        full.data[(b * c + ch) * p + (o.y + y) * w + o.x + xx] =
                            values.data[((b * c + ch) * size.h + y) * size.w + xx]
                    }
                }
            }
        }
        let base = model.network.forward(x, record: .explanation)
        let local = model.network.forwardLocal(base: base, origins: origins, height: size.h, width: size.w, values: values)
        let reference = model.network.forward(full).output
        XCTAssertEqual(local.shape, reference.shape)
        let m = reference.data.reduce(0.0) { max($0, abs(Double($1))) }
        let d = zip(local.data, reference.data).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
        let unchanged = model.network.forward(x).output
        let moved = (0..<reference.count).reduce(0.0) {
            max($0, abs(Double(reference.data[$1]) - Double(unchanged.data[$1 % unchanged.count])))
        }
        return (d / max(m, 1e-30), moved / max(m, 1e-30))
    }

    /// Corners, an edge and the middle.
    static func origins(height h: Int, width w: Int, size: (h: Int, w: Int)) -> [(y: Int, x: Int)] {
        [(0, 0), (0, w - size.w), (h - size.h, w - size.w), ((h - size.h) / 2, (w - size.w) / 2),
         ((h - size.h) / 3, w - size.w - 1)]
    }

    func testOfficialArchitectures() throws {
        let dir = ArchOracleTests.dir
        for f in try ArchOracleTests.fixtures(in: dir) {
            let json = String(decoding: try JSONSerialization.data(withJSONObject: f.config, options: [.sortedKeys]), as: UTF8.self)
            let cfg = try ModelConfig.parse(json: json, source: f.name)
            let ckpt = try TorchCheckpoint.load(f.weights)
            let (weights, _) = try Zoo.match(ckpt.tensors, skipped: ckpt.skipped, config: cfg, source: f.name)
            let model = try BcosModel(config: cfg, weights: weights, source: f.name)
            let image = try PNG.read(f.input)
            let x = model.encode(Tensor(shape: [1, 3, image.height, image.width], data: image.planarRGB()))
            for (i, size) in [(h: 56, w: 56), (h: 9, w: 13), (h: 1, w: 1)].enumerated() {
                // 1x1: positions a strided 1x1 shortcut conv skips (odd coordinates) and one it reads.
                let origins = size.h == 1 ? [(y: 223, x: 223), (y: 0, x: 1), (y: 100, x: 56)]
                    : Self.origins(height: image.height, width: image.width, size: size)
                let (error, moved) = check(model, x, size: size, origins: origins, seed: UInt64(i + 1))
                XCTAssertLessThan(error, 2e-5, "\(f.name), \(size.h)x\(size.w) rectangles")
                // The check must not pass because the changes did nothing: the local pass must be far closer to the
                // changed images' logits than the unchanged image's are.
                XCTAssertGreaterThan(moved, 0, "\(f.name): the rectangles must move the logits")
                if size.h > 1 { XCTAssertLessThan(error, 0.01 * moved, "\(f.name), \(size.h)x\(size.w) rectangles") }
            }
        }
    }

    func testCIFARNetOnAGrid() throws {
        let cfg = ModelConfig(numClasses: 10, imageSize: [96, 96], widths: [8, 8, 12, 12, 12, 16, 16, 16],
                              scale: 0.0562341, logitTemperature: 100, logitBias: -2.197225)
        let model = try BcosModel.random(config: cfg, seed: 4)
        let x = model.encode(TestSupport.random([1, 3, 96, 96], seed: 5))
        for size in [(h: 9, w: 9), (h: 32, w: 32)] {
            let (error, moved) = check(model, x, size: size, origins: Self.origins(height: 96, width: 96, size: size), seed: 6)
            XCTAssertLessThan(error, 1e-5, "\(size.h)x\(size.w) rectangles")
            XCTAssertGreaterThan(moved, 1e-3, "the rectangles must move the logits")
        }
    }
}
