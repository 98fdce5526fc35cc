import BcosData
import Foundation
import XCTest

// Fixtures: /tmp/pil/bin/python tools/make_jpeg_fixtures.py (Pillow writes rgb.jpg, gray.jpg, cmyk.jpg and
// jpeg_expected.json with the RGB it decodes from each).

final class JPEGTests: ScratchTestCase {
    private struct Expected: Decodable {
        let width: Int
        let height: Int
        let rgb: [UInt8]
    }

    /// Colour (progressive, 4:2:0), grayscale and Adobe CMYK JPEGs decode to the RGB Pillow gets, within 2 levels
    /// (Pillow may link another libjpeg-turbo version).
    func testDecodesColourGrayAndCMYKLikePillow() throws {
        let table = try Fixtures.json("jpeg_expected.json", as: [String: Expected].self)
        XCTAssertEqual(Set(table.keys), ["rgb.jpg", "gray.jpg", "cmyk.jpg"])
        for name in table.keys.sorted() {
            let expected = try XCTUnwrap(table[name])
            let image = try JPEG.read(Fixtures.path(name))
            XCTAssertEqual([image.width, image.height], [expected.width, expected.height], name)
            let rgb = (0..<(image.width * image.height)).flatMap { image.rgba[($0 * 4)..<($0 * 4 + 3)] }
            let worst = zip(rgb, expected.rgb).map { abs(Int($0) - Int($1)) }.enumerated().max { $0.1 < $1.1 }
            XCTAssertLessThanOrEqual(worst?.1 ?? 0, 2, "\(name): byte \(worst?.0 ?? 0) differs from Pillow's")
            XCTAssertTrue(stride(from: 3, to: image.rgba.count, by: 4).allSatisfy { image.rgba[$0] == 255 })
        }
        let gray = try JPEG.read(Fixtures.path("gray.jpg")).rgba
        let pixels = stride(from: 0, to: gray.count, by: 4).map { gray[$0..<($0 + 3)] }
        XCTAssertTrue(pixels.allSatisfy { Set($0).count == 1 }, "a grayscale JPEG must come out with R = G = B")
    }

    func testReadImageDispatchesOnContentNotName() throws {
        let jpeg = try scratch("photo.png")
        try writeFile(readFile(Fixtures.path("rgb.jpg")), to: jpeg)
        XCTAssertEqual(try readImage(jpeg), try JPEG.read(Fixtures.path("rgb.jpg")))
        let png = try scratch("drawing.jpg")
        try writeFile(readFile(Fixtures.path("rgb8.png")), to: png)
        XCTAssertEqual(try readImage(png), try PNG.read(Fixtures.path("rgb8.png")))

        let text = try scratch("notes.jpg")
        try writeFile(Array("GIF89a, not really".utf8), to: text)
        assertDataError(try readImage(text), "'\(text)'", "neither PNG nor JPEG", "47 49 46 38")
        let empty = try scratch("empty.jpg")
        try writeFile([], to: empty)
        assertDataError(try readImage(empty), "'\(empty)'", "is empty")
        assertDataError(try readImage(try scratch("nowhere.jpg")), "not found")
    }

    // MARK: bad input, each error names the file

    func testTruncatedJPEGIsAnErrorNotAGrayFill() throws {
        let bytes = try readFile(Fixtures.path("rgb.jpg"))
        // Cut inside the entropy-coded data (libjpeg: a warning, "Premature end of JPEG file"), and inside the
        // header, which libjpeg-turbo would take for a tables-only stream of 0x0 pixels.
        let cases = [(bytes.count - 40, "a warning treated as an error"), (bytes.count / 2, "libjpeg-turbo: "),
                     (100, "ends before the JPEG frame header"), (20, "ends before the JPEG frame header")]
        for (keep, reason) in cases {
            let path = try scratch("cut\(keep).jpg")
            try writeFile(Array(bytes.prefix(keep)), to: path)
            assertDataError(try JPEG.read(path), "'\(path)' is truncated or corrupt (", reason)
        }
    }

    func testCorruptJPEG() throws {
        var bytes = try readFile(Fixtures.path("rgb.jpg"))
        // Overwrite the middle with a run of markers-in-data junk.
        for index in (bytes.count / 3)..<(bytes.count / 3 + 40) { bytes[index] = index % 2 == 0 ? 0xFF : 0xD9 }
        let path = try scratch("corrupt.jpg")
        try writeFile(bytes, to: path)
        assertDataError(try JPEG.read(path), "'\(path)'", "is truncated or corrupt")
    }

    func testNotAJPEG() throws {
        let path = try Fixtures.path("rgb8.png")
        assertDataError(try JPEG.read(path), "'\(path)'", "not a JPEG file")
        assertDataError(try JPEG.decode([], name: "nothing.jpg"), "'nothing.jpg'", "is empty")
    }

    func testHugeDimensionsAreRefusedBeforeAllocating() throws {
        var bytes = try readFile(Fixtures.path("gray.jpg"))
        // The SOF marker (FF C0 for baseline) holds precision, height, width: claim 60000 x 60000.
        let sof = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        bytes.replaceSubrange((sof + 5)..<(sof + 9), with: [0xEA, 0x60, 0xEA, 0x60])
        let path = try scratch("huge.jpg")
        try writeFile(bytes, to: path)
        assertDataError(try JPEG.read(path), "'\(path)'", "is 60000x60000 pixels, over the limit")
    }
}
