import BcosData
import BcosEngine
import Foundation
import XCTest

/// Bad images, targets, outputs and options: exit 1 with one line `bcos: error: ...` naming the file or value.
final class BadInputTests: CLITestCase {
    func explainArgs(_ image: String, _ extra: [String] = []) throws -> [String] {
        ["explain", "--model", try baseModel(), "--image", image] + extra
    }

    // MARK: - Images

    func testMissingImage() throws {
        let image = tmp.file("nope.png")
        assertUserError(try explainArgs(image), mentions: [image, "not found"])
    }

    func testEmptyImage() throws {
        let image = try tmp.write("empty.png", [])
        assertUserError(try explainArgs(image), mentions: [image, "empty"])
    }

    func testTextFileNamedPNG() throws {
        let image = try tmp.write("notes.png", [UInt8]("these are my notes, not a picture\n".utf8))
        assertUserError(try explainArgs(image), mentions: [image, "neither PNG nor JPEG"])
    }

    func testTruncatedPNG() throws {
        let good = try writePNG("good.png")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        XCTAssertGreaterThan(bytes.count, 400)
        let image = try tmp.write("truncated.png", Array(bytes.prefix(bytes.count * 6 / 10)))
        assertUserError(try explainArgs(image), mentions: [image, "truncated"])
    }

    func testHugeIHDR() throws {
        // A well-formed PNG header (correct CRCs) that claims 100000 x 100000 RGB pixels.
        let image = try tmp.write("huge.png", Self.pngHeaderOnly(width: 100_000, height: 100_000))
        assertUserError(try explainArgs(image), mentions: [image, "100000x100000"])
    }

    func testWrongSizeNeedsResize() throws {
        let image = try writePNG("wide.png", width: 20, height: 12)
        assertUserError(try explainArgs(image), mentions: [image, "20x12", "--resize"])
        let json = try jsonObject(assertSuccess(try explainArgs(image, ["--resize", "--json"])))
        let contributions = try matrix(json["contributions"])
        XCTAssertEqual(contributions.count, 16)
        XCTAssertTrue(contributions.allSatisfy { $0.count == 16 })
    }

    func testImageTooSmallForModel() throws {
        // Paddings 0 shrink a 16x16 input to nothing by layer 5; the model loads, the image cannot be explained.
        let model = try writeModel("pad0.safetensors") { $0["paddings"] = [0, 0, 0, 0, 0, 0, 0, 0, 0] }
        let image = try writePNG()
        assertUserError(["explain", "--model", model, "--image", image], mentions: [image, "16x16", "too small"])
        // The same model explains an image large enough for it at its native size.
        assertSuccess(["explain", "--model", model, "--image", try writePNG("big.png", width: 40, height: 40), "--native-size"])
    }

    // MARK: - Targets

    func testUnknownClassName() throws {
        assertUserError(try explainArgs(try writePNG(), ["--target", "zebra"]), mentions: ["'zebra'"])
    }

    func testClassIndexOutOfRange() throws {
        assertUserError(try explainArgs(try writePNG(), ["--target", "10"]), mentions: ["10", "out of range"])
        // `--target -1` would be read by ArgumentParser as an option; `--target=-1` passes the value.
        assertUserError(try explainArgs(try writePNG("b.png"), ["--target=-1"]), mentions: ["-1", "out of range"])
    }

    func testUnknownLayer() throws {
        assertUserError(try explainArgs(try writePNG(), ["--target", "conv9:0"]), mentions: ["'conv9'"])
        assertUserError(try explainArgs(try writePNG("b.png"), ["--target", "input:0"]), mentions: ["'input'"])
    }

    func testChannelOutOfRange() throws {
        // Layer 4 of the base model has 4 channels.
        assertUserError(try explainArgs(try writePNG(), ["--target", "4:4"]), mentions: ["channel 4"])
    }

    func testPositionOutOfRange() throws {
        assertUserError(try explainArgs(try writePNG(), ["--target", "4:0@99,99"]), mentions: ["99"])
        assertUserError(try explainArgs(try writePNG("b.png"), ["--target", "4:0@0,8"]), mentions: ["(0, 8)"])
    }

    func testMalformedTargets() throws {
        let image = try writePNG()
        assertUserError(try explainArgs(image, ["--target", "4:x"]), mentions: ["'x'", "4:x"])
        assertUserError(try explainArgs(image, ["--target", "4:1@a,b"]), mentions: ["@a,b"])
        assertUserError(try explainArgs(image, ["--target", "4:1@3"]), mentions: ["@3"])
        assertUserError(try explainArgs(image, ["--target", "3-3"]), mentions: ["two different classes"])
    }

    // MARK: - Outputs

    func testOutIsARegularFile() throws {
        let out = try tmp.write("not-a-dir", [UInt8]("x".utf8))
        assertUserError(try explainArgs(try writePNG(), ["--out", out]), mentions: [out, "not a directory"])
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "x")
    }

    func testNoSilentOverwrite() throws {
        let out = tmp.file("out")
        let first = try writePNG("image.png", seed: 1)
        assertSuccess(try explainArgs(first, ["--out", out]))
        let contributions = out + "/image_contributions.png", colour = out + "/image_explanation.png"
        let before = try [contributions, colour].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }

        // Another image with the same file name, so the same output names but different pictures.
        try FileManager.default.createDirectory(atPath: tmp.file("other"), withIntermediateDirectories: true)
        let second = try writePNG("other/image.png", seed: 2)
        assertUserError(try explainArgs(second, ["--out", out]), mentions: ["image_contributions.png", "--force"])
        let unchanged = try [contributions, colour].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        XCTAssertEqual(unchanged, before, "a refused run must leave the existing PNGs alone")

        assertSuccess(try explainArgs(second, ["--out", out, "--force"]))
        let after = try [contributions, colour].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        XCTAssertNotEqual(after[0], before[0], "--force must replace the contribution map")
        XCTAssertNotEqual(after[1], before[1], "--force must replace the colour explanation")
        XCTAssertEqual(try PNG.read(contributions).width, 256)
    }

    func testOnlyColourPNGExists() throws {
        // The second file of the pair already exists: nothing may be written, not even the first.
        let out = tmp.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let colour = try tmp.write("out/image_explanation.png", [UInt8]("keep me".utf8))
        assertUserError(try explainArgs(try writePNG(), ["--out", out]), mentions: ["image_explanation.png"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/image_contributions.png"))
        XCTAssertEqual(try String(contentsOfFile: colour, encoding: .utf8), "keep me")
    }

    // MARK: - Other commands

    func testBenchBatchZero() throws {
        assertUserError(["bench", "--batch", "0", "--quick", "--model", try baseModel()], mentions: ["--batch", "0"])
    }

    func testInitBadWidths() throws {
        for widths in ["4,4,4", "4,4,4,4,4,4,4,x", "4,4,4,4,4,4,4,0", "4,4,4,4,4,4,4,4,4", ""] {
            let out = tmp.file("init-\(UUID().uuidString).safetensors")
            assertUserError(["init", "--widths", widths, "--out", out], mentions: ["--widths '\(widths)'"])
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "init wrote \(out) for --widths '\(widths)'")
        }
    }

    func testInitNonFiniteValues() throws {
        // These once wrote a model with an empty 'bcos.config' (non-finite numbers cannot be written as JSON).
        for extra in [["--bias", "nan"], ["--temperature", "inf"], ["--b", "inf", "--scale", "1"], ["--scale", "nan"]] {
            let out = tmp.file("nonfinite-\(UUID().uuidString).safetensors")
            assertUserError(["init", "--widths", "4,4,4,4,4,4,4,4", "--out", out] + extra, mentions: [extra[1]])
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "init \(extra) wrote \(out)")
        }
    }

    /// A directory or a FIFO given as a model: one line, no trap (a directory once tripped a `try!` in `info`,
    /// and a FIFO made it wait for a writer forever).
    func testModelThatIsNotARegularFile() throws {
        let dir = tmp.file("dir.safetensors")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fifo = tmp.file("fifo.safetensors")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let image = try writePNG()
        for path in [dir, fifo] {
            assertUserError(["info", path], mentions: [path])
            assertUserError(["explain", "--model", path, "--image", image], mentions: [path])
            assertUserError(["import", path, "--arch", "resnet18", "--out", tmp.file("imported.safetensors")], mentions: [path])
        }
    }

    /// Option values are checked even when they would not be used.
    func testOptionValuesAreCheckedUpFront() throws {
        let model = try baseModel(), image = try writePNG()
        for extra in [["--smooth", "2"], ["--smooth", "0"], ["--smooth", "99999"], ["--upscale", "0"], ["--upscale", "100000"]] {
            assertUserError(["explain", "--model", model, "--image", image] + extra, mentions: [extra[0], extra[1]])
        }
        assertUserError(["eval", "--model", model, "--data", tmp.path, "--limit", "0"], mentions: ["--limit", "0"])
        assertUserError(["localize", "--model", model, "--data", tmp.path, "--methods", "bcos,,grad"],
                        mentions: ["--methods", "empty entry"])
        assertUserError(["bench", "--quick", "--json", "--methods"], mentions: ["--json", "--methods"])
        assertUserError(["init", "--widths", "4,4,4,4,4,4,4,4", "--temperature=-1", "--out", tmp.file("t.safetensors")],
                        mentions: ["--temperature"])
    }

    func testOutputFileThatIsADirectory() throws {
        assertUserError(["init", "--widths", "4,4,4,4,4,4,4,4", "--out", tmp.path, "--force"], mentions: [tmp.path, "directory"])
        assertUserError(["init", "--widths", "4,4,4,4,4,4,4,4", "--out", tmp.file("nowhere/m.safetensors")],
                        mentions: ["nowhere", "does not exist"])
        let out = tmp.file("pngs")
        try FileManager.default.createDirectory(atPath: out + "/image_explanation.png", withIntermediateDirectories: true)
        assertUserError(try explainArgs(try writePNG(), ["--out", out, "--force"]), mentions: ["image_explanation.png", "directory"])
    }

    func testInitRefusesExistingFile() throws {
        let out = try tmp.write("model.safetensors", [UInt8]("precious".utf8))
        assertUserError(["init", "--widths", "4,4,4,4,4,4,4,4", "--out", out], mentions: [out, "--force"])
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "precious")
        assertSuccess(["init", "--widths", "4,4,4,4,4,4,4,4", "--out", out, "--force"])
        XCTAssertNoThrow(try BcosModel.load(out))
    }

    // MARK: - PNG bytes

    /// Signature, IHDR (8-bit RGB) and IEND with correct CRCs, and one empty IDAT.
    static func pngHeaderOnly(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        func chunk(_ kind: String, _ data: [UInt8]) -> [UInt8] {
            let body = [UInt8](kind.utf8) + data
            return be(UInt32(data.count)) + body + be(crc32(body))
        }
        let ihdr = be(width) + be(height) + [8, 2, 0, 0, 0]
        let idat: [UInt8] = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]  // zlib stream of nothing
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", ihdr) + chunk("IDAT", idat)
            + chunk("IEND", [])
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xffff_ffff
    }
}
