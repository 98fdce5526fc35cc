import BcosData
import XCTest

final class ImageTests: XCTestCase {
    // Pixels: opaque orange, half-transparent brown, transparent white, opaque red, green, blue.
    private let image = Image(width: 3, height: 2, rgba: [255, 128, 0, 255, 200, 100, 50, 128, 255, 255, 255, 0,
                                                          255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255])

    func testRGBInitialiserMakesOpaquePixels() {
        let rgb = Image(width: 2, height: 1, rgb: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(rgb.rgba, [1, 2, 3, 255, 4, 5, 6, 255])
    }

    func testPlanarRGBCompositesOverBlack() {
        // 200 * 128 / 255 = 100.4 -> 100, 100 * 128 / 255 = 50.2 -> 50, 50 * 128 / 255 = 25.1 -> 25.
        let expected: [[Float]] = [[255, 100, 0, 255, 0, 0],  // R [2, 3]
                                   [128, 50, 0, 0, 255, 0],   // G
                                   [0, 25, 0, 0, 0, 255]]     // B
        XCTAssertEqual(image.planarRGB(), expected.flatMap { $0 }.map { $0 / 255 })
    }

    func testPlanarGrayIsRec601LumaOfComposite() {
        // 0.299 R + 0.587 G + 0.114 B of the composited bytes, rounded (none lies near .5):
        // orange 151.38, brown (100, 50, 25) 62.1, transparent 0, red 76.245, green 149.685, blue 29.07.
        let expected: [Float] = [151, 62, 0, 76, 150, 29]
        XCTAssertEqual(image.planarGray(), expected.map { $0 / 255 })
    }
}
