import BcosData
import Foundation
import XCTest

// Fixtures: python3 tools/make_png_fixtures.py (writes the PNGs by hand and expected.json with their 8-bit RGBA).

final class PNGTests: XCTestCase {
    private var temporary: TemporaryDirectory?

    override func setUpWithError() throws {
        temporary = try TemporaryDirectory()
    }

    override func tearDown() {
        temporary?.remove()
    }

    private func scratch(_ name: String) throws -> String {
        try XCTUnwrap(temporary).path(name)
    }

    // MARK: write and read back

    func testRoundTripIsLossless() throws {
        var generator = SplitMix64(seed: 7)
        let (width, height) = (37, 23)
        let rgba = (0..<(width * height * 4)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = Image(width: width, height: height, rgba: rgba)
        let path = try scratch("random.png")

        try PNG.write(image, to: path)

        XCTAssertEqual(try PNG.read(path), image)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(try PNG.decode(bytes, name: path), image)
    }

    func testWriteRefusesToReplaceAFileUnlessOverwrite() throws {
        let first = Image(width: 2, height: 1, rgb: [1, 2, 3, 4, 5, 6])
        let second = Image(width: 1, height: 1, rgb: [9, 9, 9])
        let path = try scratch("out.png")
        try PNG.write(first, to: path)

        XCTAssertThrowsError(try PNG.write(second, to: path)) { error in
            XCTAssertEqual("\(error)", "refusing to overwrite '\(path)'; choose another path or remove it")
        }
        XCTAssertEqual(try PNG.read(path), first, "the refused write must leave the file alone")

        try PNG.write(second, to: path, overwrite: true)
        XCTAssertEqual(try PNG.read(path), second)
    }

    // MARK: colour types and bit depths

    private struct Expected: Decodable {
        let width: Int
        let height: Int
        let rgba: [UInt8]
    }

    func testDecodesEveryColourTypeBitDepthAndInterlacing() throws {
        let table = try Fixtures.json("expected.json", as: [String: Expected].self)
        let required = ["gray1.png", "gray2.png", "gray4.png", "gray8.png", "gray16.png", "gray_alpha8.png",
                        "gray_alpha16.png", "rgb8.png", "rgb16.png", "rgba8.png", "rgba16.png", "palette4.png",
                        "palette8_trns.png", "rgb8_trns.png", "rgb8_gamma10.png", "rgba8_adam7.png"]
        XCTAssertEqual(Set(table.keys), Set(required))
        for name in table.keys.sorted() {
            let expected = try XCTUnwrap(table[name])
            let image = try PNG.read(Fixtures.path(name))
            XCTAssertEqual(image, Image(width: expected.width, height: expected.height, rgba: expected.rgba),
                           "\(name): decoded RGBA differs from expected.json")
        }
    }

    /// libpng would treat 16-bit data without gAMA/sRGB as linear light and brighten it (32768 -> 186);
    /// `PNG.decode` asks for sRGB so 16-bit v becomes round(v / 257), alpha too.
    func testSixteenBitSamplesAreScaledNotGammaConverted() throws {
        let gray = try PNG.read(Fixtures.path("gray16.png"))
        // gray16.png holds 0, 65535, 32768, 32767, 0x1234 in its first row.
        XCTAssertEqual(stride(from: 0, to: 20, by: 4).map { gray.rgba[$0] }, [0, 255, 128, 127, 18])
        let grayAlpha = try PNG.read(Fixtures.path("gray_alpha16.png"))
        // pixel 2 is (32768, alpha 32768); pixel 1 is (65535, alpha 0): colour under zero alpha is kept.
        XCTAssertEqual(Array(grayAlpha.rgba[8..<12]), [128, 128, 128, 128])
        XCTAssertEqual(Array(grayAlpha.rgba[4..<8]), [255, 255, 255, 0])
    }

    /// An 8-bit file with gAMA 1.0 is converted to display gamma 2.2: v -> round(255 * (v / 255)^(1/2.2)).
    func testGammaChunkIsHonoured() throws {
        let plain = try PNG.read(Fixtures.path("rgb8.png"))
        let linear = try PNG.read(Fixtures.path("rgb8_gamma10.png"))
        for index in plain.rgba.indices {
            let value = Double(plain.rgba[index])
            let expected = index % 4 == 3 ? value : (255 * pow(value / 255, 1 / 2.2)).rounded()
            XCTAssertEqual(Double(linear.rgba[index]), expected, "byte \(index)")
        }
    }

    // MARK: bad input, each error names the file

    private func assertReadFails(_ path: String, saying phrase: String,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PNG.read(path), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(error is DataError, "not a DataError: \(error)", file: file, line: line)
            XCTAssertTrue(message.contains("'\(path)'"), "message does not name the file: \(message)",
                          file: file, line: line)
            XCTAssertTrue(message.contains(phrase), "message lacks '\(phrase)': \(message)", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "message is not one line: \(message)", file: file, line: line)
        }
    }

    func testMissingFile() throws {
        assertReadFails(try scratch("nowhere.png"), saying: "not found")
    }

    func testEmptyFile() throws {
        assertReadFails(try Fixtures.path("bad_empty.png"), saying: "is empty (0 bytes)")
    }

    func testTextFileNamedPNG() throws {
        assertReadFails(try Fixtures.path("bad_text.png"), saying: "not a PNG file (libpng: Not a PNG file)")
    }

    func testTruncatedInsideIDAT() throws {
        assertReadFails(try Fixtures.path("bad_truncated.png"), saying: "is truncated or corrupt (libpng: ")
    }

    func testHugeDimensionsAreRefusedBeforeAllocating() throws {
        // The IHDR claims 100000 x 100000 RGBA (40 GB decoded); the file is 69 bytes.
        assertReadFails(try Fixtures.path("bad_huge.png"), saying: "is 100000x100000 pixels, over the limit")
    }

    func testCorruptCRC() throws {
        assertReadFails(try Fixtures.path("bad_crc.png"), saying: "(libpng: IDAT: CRC error)")
    }
}

/// A small seeded generator so the random image is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
