import BcosEngine
import BcosExplain
import BcosTestSupport
import XCTest

final class PicturesTests: XCTestCase {
    func pixel(_ c: Canvas, _ x: Int, _ y: Int) -> [UInt8] {
        let i = (y * c.width + x) * 3
        return Array(c.rgb[i..<(i + 3)])
    }

    /// A neuron's W(x) is nonzero exactly inside its receptive field: 3x3 for the first 3x3 conv, 5x5 after two,
    /// cut at the border (zero padding).
    func testSupportOfANeuronsExplanationIsItsReceptiveField() throws {
        let cfg = ModelConfig(numClasses: 3, imageSize: [12, 10], widths: [4, 4, 6, 6, 6, 8, 8, 8], b: 2, maxOut: 2,
                              scale: 0.3, logitTemperature: 1, logitBias: -0.69)
        let model = try BcosModel.random(config: cfg, seed: 3)
        let x = model.encode(TestSupport.random([1, 3, 12, 10], seed: 4))
        for (layer, y, xx, want) in [("0", 5, 4, Pictures.Region(y: 4, x: 3, height: 3, width: 3)),
                                     ("1", 5, 4, Pictures.Region(y: 3, x: 2, height: 5, width: 5)),
                                     ("1", 0, 9, Pictures.Region(y: 0, x: 7, height: 3, width: 3))] {
            let e = try model.explain(x, target: .neuron(layer: layer, channel: 1, position: .at(y: y, x: xx)))
            XCTAssertEqual(Pictures.support(of: e.weights), want, "layer \(layer) at (\(y), \(xx))")
        }
        let all = try model.explain(x, target: .logit(0))
        XCTAssertEqual(Pictures.support(of: all.weights), Pictures.Region(y: 0, x: 0, height: 12, width: 10))
    }

    func testCropTakesTheRegionsPixels() {
        let rgb = (0..<(4 * 3 * 3)).map { UInt8($0) }  // 4 wide, 3 high
        XCTAssertEqual(Pictures.crop(rgb, width: 4, to: Pictures.Region(y: 1, x: 2, height: 2, width: 2)),
                       [18, 19, 20, 21, 22, 23, 30, 31, 32, 33, 34, 35])
    }

    func testOverlayKeepsTheGreyImageWhereTheMapIsZeroAndThePureColourAtTheClip() {
        // 1x3 map: 0, +max, -max over three coloured pixels.
        let map: [Float] = [0, 2, -2]
        let image: [UInt8] = [200, 100, 50, 10, 20, 30, 90, 90, 90]
        let (rgb, range) = Pictures.signedMap(map, over: image)
        XCTAssertEqual(range, 2, accuracy: 1e-6)
        let grey = UInt8((0.299 * 200 + 0.587 * 100 + 0.114 * 50 as Float).rounded())
        XCTAssertEqual(Array(rgb[0..<3]), [grey, grey, grey])
        XCTAssertEqual(Array(rgb[3..<6]), [255, 0, 0])
        XCTAssertEqual(Array(rgb[6..<9]), [0, 0, 255])
        // Without an image the map is the plain blue-white-red picture.
        XCTAssertEqual(Pictures.signedMap(map).rgb, Visualize.signedColours(map).rgb)
    }

    func testColourBarRunsBlueWhiteRedWithLabels() {
        let bar = Pictures.colourBar(range: 0.5, length: 101, thickness: 10, scale: 1)
        XCTAssertEqual(bar.width, 101)
        XCTAssertEqual(pixel(bar, 0, 5), [0, 0, 255])
        XCTAssertEqual(pixel(bar, 50, 5), [255, 255, 255])
        XCTAssertEqual(pixel(bar, 100, 5), [255, 0, 0])
        // The labels are drawn in black under the bar.
        let below = (11..<bar.height).flatMap { y in (0..<bar.width).map { pixel(bar, $0, y) } }
        XCTAssertTrue(below.contains([0, 0, 0]))
    }

    func testSignedPictureUpscalesAndAddsTheBarUnderneath() {
        var rng = SplitMix64(seed: 3)
        let map = (0..<(4 * 6)).map { _ in Float(Int(rng.next() % 200)) - 100 }
        let plain = Pictures.signedPicture(Pictures.signedMap(map), width: 6, height: 4, factor: 5, bar: false)
        XCTAssertEqual(plain.width, 30)
        XCTAssertEqual(plain.height, 20)
        let colours = Visualize.signedColours(map).rgb
        for y in 0..<20 {
            for x in 0..<30 {
                let i = ((y / 5) * 6 + x / 5) * 3
                XCTAssertEqual(pixel(plain, x, y), Array(colours[i..<(i + 3)]))
            }
        }
        let barred = Pictures.signedPicture(Pictures.signedMap(map), width: 6, height: 4, factor: 5, bar: true)
        XCTAssertEqual(barred.width, 30)
        XCTAssertGreaterThan(barred.height, 20)
        XCTAssertEqual(Array(barred.rgb[0..<(30 * 20 * 3)]), plain.rgb)
    }

    func testPanelPlacesEveryTileAtItsFactor() {
        let w = 3, h = 2
        let a = [UInt8](repeating: 10, count: w * h * 3), b = [UInt8](repeating: 200, count: w * h * 3)
        let panel = Pictures.panel([.init(title: "a", rgb: a), .init(title: "b", rgb: b, range: 1)], width: w, height: h,
                                   factor: 4)
        XCTAssertGreaterThanOrEqual(panel.width, 2 * w * 4)
        // Each tile appears somewhere as a solid 12x8 block.
        func hasBlock(_ v: UInt8) -> Bool {
            for y0 in 0...(panel.height - 8) {
                for x0 in 0...(panel.width - 12) where pixel(panel, x0, y0) == [v, v, v] {
                    if (0..<8).allSatisfy({ dy in (0..<12).allSatisfy { pixel(panel, x0 + $0, y0 + dy) == [v, v, v] } }) {
                        return true
                    }
                }
            }
            return false
        }
        XCTAssertTrue(hasBlock(10))
        XCTAssertTrue(hasBlock(200))
    }
}
