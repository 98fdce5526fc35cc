import BcosData
import Foundation
import XCTest

// resize_oracle.json: Pillow's Image.resize(size, BILINEAR), written by tools/make_png_fixtures.py with Pillow installed.

final class ResizeTests: XCTestCase {
    /// Applies hand-written weight matrices (rows: outputs, columns: inputs) to one `[H, W]` channel, along x then
    /// along y, rounding each pass to the nearest integer when `round` is set (Pillow's 8-bit arithmetic).
    private func reference(_ channel: [[Double]], x wx: [[Double]], y wy: [[Double]], round: Bool) -> [[Double]] {
        let fix: (Double) -> Double = { round ? ($0 + 0.5).rounded(.down) : $0 }
        let horizontal = channel.map { row in wx.map { weights in fix(zip(weights, row).map(*).reduce(0, +)) } }
        return wy.map { weights in
            (0..<wx.count).map { column in
                fix(zip(weights, horizontal.map { $0[column] }).map(*).reduce(0, +))
            }
        }
    }

    /// The `[H, W]` values of channel `c` of an image.
    private func channel(_ image: Image, _ c: Int) -> [[Double]] {
        (0..<image.height).map { y in (0..<image.width).map { x in Double(image.rgba[(y * image.width + x) * 4 + c]) } }
    }

    private let sample = Image(width: 4, height: 4, rgba: (0..<16).flatMap { i -> [UInt8] in
        let (x, y) = (i % 4, i / 4)
        return [UInt8(x * 60 + y * 5), UInt8(255 - x * y * 10), UInt8((x + y) * 30), UInt8(y * 80 + x)]
    })

    /// 4 -> 2 (scale 2): the triangle widens to support 2, so output 0 (centre 1.0) weighs inputs 0, 1, 2 by
    /// 0.75, 0.75, 0.25 and output 1 (centre 3.0) weighs inputs 1, 2, 3 by 0.25, 0.75, 0.75, each over 1.75.
    private let down4to2: [[Double]] = [[3 / 7, 3 / 7, 1 / 7, 0], [0, 1 / 7, 3 / 7, 3 / 7]]

    func testDownscaleUsesWidenedTriangleWeights() {
        let out = sample.resized(width: 2, height: 2)
        XCTAssertEqual(out.width, 2)
        XCTAssertEqual(out.height, 2)
        for c in 0..<4 {
            XCTAssertEqual(channel(out, c), reference(channel(sample, c), x: down4to2, y: down4to2, round: true),
                           "channel \(c)")
        }
    }

    func testUpscaleIsHalfPixelBilinear() {
        let small = Image(width: 2, height: 2, rgba: [0, 10, 200, 255, 2, 90, 100, 0,
                                                      40, 255, 0, 128, 41, 0, 51, 7])
        // Output centres 0.25, 0.75, 1.25, 1.75 in input pixels; the outer two clamp to the edge pixel.
        let up2to4: [[Double]] = [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]
        let out = small.resized(width: 4, height: 4)
        for c in 0..<4 {
            XCTAssertEqual(channel(out, c), reference(channel(small, c), x: up2to4, y: up2to4, round: true),
                           "channel \(c)")
        }
    }

    func testIdentityResizeReturnsTheSameImage() {
        XCTAssertEqual(sample.resized(width: 4, height: 4), sample)
        let planes = sample.planarRGB()
        XCTAssertEqual(resizedPlanar(planes, channels: 3, height: 4, width: 4, toHeight: 4, toWidth: 4), planes)
    }

    func testPlanarDownscaleDoesNotRound() {
        let planes = sample.planarRGB()  // [3, 4, 4]
        let out = resizedPlanar(planes, channels: 3, height: 4, width: 4, toHeight: 2, toWidth: 2)
        XCTAssertEqual(out.count, 3 * 2 * 2)
        for c in 0..<3 {
            let input = (0..<4).map { y in (0..<4).map { x in Double(planes[c * 16 + y * 4 + x]) } }
            let expected = reference(input, x: down4to2, y: down4to2, round: false).flatMap { $0 }
            for (i, value) in expected.enumerated() {
                XCTAssertEqual(Double(out[c * 4 + i]), value, accuracy: 1e-6, "channel \(c) element \(i)")
            }
        }
    }

    private struct Oracle: Decodable {
        struct Case: Decodable {
            let width: Int
            let height: Int
            let rgb: [UInt8]
            let plane: [Float]
        }

        let pillow: String
        let width: Int
        let height: Int
        let rgb: [UInt8]
        let plane: [Float]
        let cases: [Case]
    }

    func testMatchesPillowBilinear() throws {
        let oracle = try Fixtures.json("resize_oracle.json", as: Oracle.self)
        let image = Image(width: oracle.width, height: oracle.height, rgb: oracle.rgb)
        for item in oracle.cases {
            let size = "\(oracle.width)x\(oracle.height) -> \(item.width)x\(item.height)"
            let out = image.resized(width: item.width, height: item.height)
            XCTAssertEqual(out, Image(width: item.width, height: item.height, rgb: item.rgb),
                           "\(size): RGB differs from Pillow \(oracle.pillow)")

            let plane = resizedPlanar(oracle.plane, channels: 1, height: oracle.height, width: oracle.width,
                                      toHeight: item.height, toWidth: item.width)
            let errors = zip(plane, item.plane).map { abs($0 - $1) - (1e-6 + 1e-5 * abs($1)) }
            let worst = errors.indices.max { errors[$0] < errors[$1] } ?? 0
            XCTAssertLessThanOrEqual(errors[worst], 0, "\(size): plane element \(worst) is \(plane[worst]), "
                                     + "Pillow mode F gives \(item.plane[worst])")
        }
    }
}
