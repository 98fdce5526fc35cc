import BcosEngine
import BcosExplain
import BcosTestSupport
import XCTest

/// The colour explanation against the official `bcos.common.gradient_to_image` (fixtures from
/// `python tools/make_engine_fixtures.py --v1 /tmp/bcos-v1`), and the picture helpers' defining properties.
final class VisualizeTests: XCTestCase {
    /// The colour explanation is computed from the official W(x) (float64, stored as float32), so this checks the
    /// picture alone: W(x) itself is OracleTests' job. From the engine's own float32 W(x) the colours would depend on
    /// the CPU's BLAS kernels where they are ratios of near-zero W entries, or where a pixel's contribution is within
    /// rounding of zero (its alpha then jumps between 0 and |W|).
    func testColourExplanationMatchesOfficialCode() throws {
        var checked = 0
        for name in ["v1_b1_m2", "v1_b1p5_m1", "v1_b2_m2", "v1_b2p5_m2", "v2_b2_m2", "v1_b2p5_m2_24x20"] {
            let expect = try Safetensors.load(TestSupport.fixture(name + ".expect.safetensors"))
            XCTAssertEqual(expect.metadata["logit_class"], "3", name)
            let input = try XCTUnwrap(expect["input"]).item(0)
            let weights = try XCTUnwrap(expect["logit.weights"])
            for (smooth, key) in [(1, "colour.smooth0"), (3, "colour.smooth3")] {
                let ref = try XCTUnwrap(expect[key], "\(name) has no \(key)")
                let ours = Visualize.colourExplanation(input: input, weights: weights, smooth: smooth)
                XCTAssertEqual(ref.shape, [input.shape[1], input.shape[2], 4])
                // RGB is a ratio of W components and alpha is normalised, so both are O(1): absolute tolerance.
                XCTAssertNil(TestSupport.compare(ours, ref.data, rtol: 0, atol: 2e-4), "\(name) \(key)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 12)
    }

    func testPercentileInterpolatesLikeNumpy() {
        // numpy.percentile([1, 2, 3, 4], 50) = 2.5; 99.5 of 0...199 = 198.005
        XCTAssertEqual(Visualize.percentile([4, 1, 3, 2], 50), 2.5, accuracy: 1e-6)
        XCTAssertEqual(Visualize.percentile((0..<200).map(Float.init), 99.5), 198.005, accuracy: 1e-3)
        XCTAssertEqual(Visualize.percentile([7], 99.5), 7)
    }

    func testMeanFilterCountsZeroPadding() {
        // 3x3 mean of an all-ones 3x3 plane: corner sees 4 ones of 9, edge 6, centre 9.
        let out = Visualize.meanFilter([Float](repeating: 1, count: 9), height: 3, width: 3, size: 3)
        XCTAssertEqual(out[0], 4 / 9, accuracy: 1e-6)
        XCTAssertEqual(out[1], 6 / 9, accuracy: 1e-6)
        XCTAssertEqual(out[4], 1, accuracy: 1e-6)
    }

    func testSignedColoursAreSymmetricBlueWhiteRed() {
        let (rgb, range) = Visualize.signedColours([-2, 0, 2, 1], clipPercentile: 100)
        XCTAssertEqual(range, 2)
        XCTAssertEqual(Array(rgb[0..<3]), [0, 0, 255])
        XCTAssertEqual(Array(rgb[3..<6]), [255, 255, 255])
        XCTAssertEqual(Array(rgb[6..<9]), [255, 0, 0])
        XCTAssertEqual(Array(rgb[9..<12]), [255, 128, 128])
    }

    func testCanvasUpscalesByRepeatingPixels() {
        let up = Canvas(pixels: [1, 2, 3, 4].flatMap { [$0, $0, $0] }, width: 2, height: 2, factor: 2)
        XCTAssertEqual(stride(from: 0, to: up.rgb.count, by: 3).map { up.rgb[$0] }, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }
}
