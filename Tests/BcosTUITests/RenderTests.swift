import XCTest
@testable import BcosTUI

/// The cell buffer, the diff renderer, colour-depth detection and palette mapping; no terminal involved.
final class RenderTests: XCTestCase {
    // MARK: CellBuffer

    func testSubscriptOutsideReadsBlankAndIgnoresWrites() {
        var b = CellBuffer(width: 3, height: 2)
        b[x: 3, y: 0] = Cell("x")
        b[x: -1, y: 1] = Cell("x")
        b[x: 0, y: 2] = Cell("x")
        XCTAssertEqual(b, CellBuffer(width: 3, height: 2))
        XCTAssertEqual(b[x: 99, y: -5], .blank)
        b[x: 2, y: 1] = Cell("z", bold: true)
        XCTAssertEqual(b[x: 2, y: 1], Cell("z", bold: true))
        XCTAssertEqual(CellBuffer(width: -2, height: 3).width, 0)
    }

    func testPutClipsAtEdgeAndMaxWidth() {
        var b = CellBuffer(width: 8, height: 3)
        XCTAssertEqual(b.put("hello world", x: 3, y: 0), 5)
        XCTAssertEqual(b.put("abcdef", x: 1, y: 1, maxWidth: 3), 3)
        XCTAssertEqual(b.put("xyz", x: -2, y: 2), 1)
        XCTAssertEqual(b.put("nope", x: 0, y: 3), 0)
        XCTAssertEqual(b.put("nope", x: 0, y: 0, maxWidth: 0), 0)
        XCTAssertEqual(b.text(), "   hello\n abc\nz")
    }

    func testPutAttributes() {
        var b = CellBuffer(width: 4, height: 1)
        b.put("ab", x: 1, y: 0, fg: RGB(1, 2, 3), bg: RGB(4, 5, 6), bold: true, reverse: true, dim: true)
        XCTAssertEqual(b[x: 2, y: 0], Cell("b", fg: RGB(1, 2, 3), bg: RGB(4, 5, 6), bold: true, reverse: true, dim: true))
        XCTAssertEqual(b[x: 0, y: 0], .blank)
        XCTAssertEqual(b[x: 3, y: 0], .blank)
    }

    func testPutKeepsEveryCellOneColumnWide() {
        var b = CellBuffer(width: 12, height: 1)
        // Wide CJK and emoji (with its joiner) become "?", tab a space, a zero-width space nothing; "é" as e + U+0301 is one
        // character, box-drawing and block characters stay.
        let written = b.put("\u{200B}日本\ta🙂\u{200D}e\u{301}─▀", x: 0, y: 0)
        XCTAssertEqual(written, 8)
        XCTAssertEqual(b.text(), "?? a?e\u{301}─▀")
        XCTAssertEqual(b[x: 5, y: 0].char, "e\u{301}")
    }

    func testWideTextClipsByCells() {
        var b = CellBuffer(width: 5, height: 1)
        XCTAssertEqual(b.put("漢字漢字漢字", x: 2, y: 0), 3)
        XCTAssertEqual(b.text(), "  ???")
    }

    func testFillClips() {
        var b = CellBuffer(width: 4, height: 3)
        b.fill(x: -1, y: 1, width: 3, height: 5, with: Cell("#"))
        XCTAssertEqual(b.text(), "\n##\n##")
        b.fill(x: 2, y: 0, width: 0, height: 3, with: Cell("!"))
        XCTAssertEqual(b.text(), "\n##\n##")
    }

    func testDrawImageMapsPixelPairsToHalfBlocks() {
        // 2 x 3 pixels: rows 0 and 1 share the first cell row, row 2 is alone with the default background.
        let px: [UInt8] = [
            10, 11, 12, 20, 21, 22,
            30, 31, 32, 40, 41, 42,
            50, 51, 52, 60, 61, 62,
        ]
        var b = CellBuffer(width: 4, height: 3)
        b.drawImage(px, width: 2, height: 3, x: 1, y: 0)
        XCTAssertEqual(b[x: 1, y: 0], Cell("▀", fg: RGB(10, 11, 12), bg: RGB(30, 31, 32)))
        XCTAssertEqual(b[x: 2, y: 0], Cell("▀", fg: RGB(20, 21, 22), bg: RGB(40, 41, 42)))
        XCTAssertEqual(b[x: 1, y: 1], Cell("▀", fg: RGB(50, 51, 52), bg: nil))
        XCTAssertEqual(b[x: 2, y: 1], Cell("▀", fg: RGB(60, 61, 62), bg: nil))
        XCTAssertEqual(b.text(), " ▀▀\n ▀▀\n")
    }

    func testDrawImageClipsAtEveryEdge() {
        let px = (0..<(4 * 4 * 3)).map { UInt8($0) }
        var b = CellBuffer(width: 3, height: 1)
        b.drawImage(px, width: 4, height: 4, x: -2, y: 0)
        // Cell (0, 0) of the buffer is image column 2, pixel rows 0 and 1.
        XCTAssertEqual(b[x: 0, y: 0], Cell("▀", fg: RGB(6, 7, 8), bg: RGB(18, 19, 20)))
        XCTAssertEqual(b.text(), "▀▀")
        var c = CellBuffer(width: 3, height: 3)
        c.drawImage(px, width: 4, height: 4, x: 1, y: -1)
        XCTAssertEqual(c[x: 1, y: 0], Cell("▀", fg: RGB(24, 25, 26), bg: RGB(36, 37, 38)))
        XCTAssertEqual(c.text(), " ▀▀\n\n")
    }

    func testBoxWithTitle() {
        var b = CellBuffer(width: 12, height: 4)
        b.put("inside", x: 1, y: 1)
        b.box(x: 0, y: 0, width: 10, height: 3, title: "Image")
        b.box(x: 9, y: 2, width: 3, height: 2)
        XCTAssertEqual(b.text(), """
            ┌ Image ─┐
            │inside  │
            └────────┌─┐
                     └─┘
            """)
        XCTAssertFalse(b[x: 0, y: 0].bold)
        XCTAssertFalse(b[x: 2, y: 0].reverse)
    }

    func testHighlightedBoxAndLongTitle() {
        var b = CellBuffer(width: 8, height: 3)
        b.box(x: 0, y: 0, width: 8, height: 3, title: "Predictions", highlighted: true)
        XCTAssertEqual(b.text(), "┌ Predi┐\n│      │\n└──────┘")
        XCTAssertTrue(b[x: 0, y: 1].bold)
        XCTAssertTrue(b[x: 3, y: 0].reverse && b[x: 3, y: 0].bold)
        var tiny = CellBuffer(width: 3, height: 3)
        tiny.box(x: 0, y: 0, width: 1, height: 3)
        XCTAssertEqual(tiny, CellBuffer(width: 3, height: 3))
    }

    func testTextSnapshotTrimsOnlyTrailingSpaces() {
        var b = CellBuffer(width: 6, height: 3)
        b.put(" a  b", x: 0, y: 0)
        b[x: 5, y: 2] = Cell(" ", bg: RGB(9, 9, 9))
        XCTAssertEqual(b.text(), " a  b\n\n")
    }

    // MARK: Renderer

    func testIdenticalBuffersDiffToNothing() {
        var b = CellBuffer(width: 10, height: 4)
        b.put("same", x: 1, y: 1, fg: RGB(200, 10, 10))
        for mode in ColorMode.allCases {
            XCTAssertEqual(Renderer.diff(from: b, to: b, mode: mode), "")
        }
    }

    func testFullRedrawClearsFirstAndSkipsBlankCells() {
        var b = CellBuffer(width: 5, height: 2)
        b.put("hi", x: 3, y: 1)
        let out = Renderer.diff(from: nil, to: b, mode: .truecolor)
        XCTAssertEqual(out, "\u{1B}[0m\u{1B}[H\u{1B}[2J\u{1B}[2;4H\u{1B}[0mhi\u{1B}[0m")
        XCTAssertEqual(Renderer.diff(from: nil, to: CellBuffer(width: 5, height: 2), mode: .truecolor),
                       "\u{1B}[0m\u{1B}[H\u{1B}[2J")
        // Another size is a full redraw too.
        let grown = Renderer.diff(from: CellBuffer(width: 4, height: 2), to: b, mode: .truecolor)
        XCTAssertEqual(grown, out)
    }

    func testOnlyChangedCellsAreSent() {
        var old = CellBuffer(width: 20, height: 5)
        old.put("the quick brown fox", x: 0, y: 0)
        old.put("jumps over", x: 0, y: 3)
        var new = old
        new.put("QU", x: 4, y: 0)        // two adjacent cells: one move
        new[x: 15, y: 0] = Cell("F")   // same row, gap: another move
        new.put("dog", x: 17, y: 4)    // new row, up to the last column
        let parsed = ParsedOutput(Renderer.diff(from: old, to: new, mode: .truecolor))
        XCTAssertEqual(parsed.cursorMoves, ["1;5", "1;16", "5;18"])
        XCTAssertEqual(parsed.text, "QUFdog")
        XCTAssertEqual(parsed.sgr.last, "0")
        XCTAssertFalse(parsed.raw.contains("2J"))
        XCTAssertFalse(parsed.raw.contains("\n"))
    }

    func testTruecolorSGR() {
        let old = CellBuffer(width: 4, height: 3)
        var new = old
        new[x: 2, y: 1] = Cell("x", fg: RGB(255, 0, 0), bg: RGB(0, 0, 255), bold: true)
        new[x: 3, y: 1] = Cell("y", fg: RGB(255, 0, 0), bg: RGB(0, 0, 255), bold: true)
        XCTAssertEqual(Renderer.diff(from: old, to: new, mode: .truecolor),
                       "\u{1B}[2;3H\u{1B}[0;1;38;2;255;0;0;48;2;0;0;255mxy\u{1B}[0m")
        var image = old
        image.drawImage([1, 2, 3, 4, 5, 6], width: 1, height: 2, x: 0, y: 2)
        XCTAssertEqual(Renderer.diff(from: old, to: image, mode: .truecolor),
                       "\u{1B}[3;1H\u{1B}[0;38;2;1;2;3;48;2;4;5;6m▀\u{1B}[0m")
    }

    func testPaletteSGR() {
        let old = CellBuffer(width: 2, height: 1)
        var new = old
        new[x: 0, y: 0] = Cell("a", fg: RGB(255, 0, 0), bg: RGB(128, 128, 128), underline: true)
        new[x: 1, y: 0] = Cell("b", fg: RGB(0, 0, 0), bg: RGB(255, 255, 255), reverse: true, dim: true)
        XCTAssertEqual(Renderer.diff(from: old, to: new, mode: .palette256),
                       "\u{1B}[1;1H\u{1B}[0;4;38;5;196;48;5;244ma\u{1B}[0;2;7;38;5;16;48;5;231mb\u{1B}[0m")
        XCTAssertEqual(Renderer.diff(from: old, to: new, mode: .palette16),
                       "\u{1B}[1;1H\u{1B}[0;4;91;100ma\u{1B}[0;2;7;30;107mb\u{1B}[0m")
    }

    func testNoColorModeKeepsAttributesOnly() {
        var old = CellBuffer(width: 6, height: 4)
        old.put("plain", x: 0, y: 0)
        var new = old
        new.drawImage((0..<(6 * 6 * 3)).map { UInt8($0 * 3 % 256) }, width: 6, height: 6, x: 0, y: 1)
        new.put("sel", x: 0, y: 0, fg: RGB(10, 200, 10), reverse: true, dim: false)
        new[x: 4, y: 0].bold = true
        let out = Renderer.diff(from: old, to: new, mode: .none)
        XCTAssertFalse(out.contains("38;"))
        XCTAssertFalse(out.contains("48;"))
        let parsed = ParsedOutput(out)
        XCTAssertEqual(parsed.sgr, ["0;7", "0;1", "0", "0"])
        XCTAssertEqual(parsed.text, "sel" + "n" + String(repeating: "▀", count: 18))
        // A change of colour alone is invisible without colour, so nothing is sent.
        var recoloured = new
        recoloured[x: 0, y: 2].fg = RGB(1, 1, 1)
        XCTAssertEqual(Renderer.diff(from: new, to: recoloured, mode: .none), "")
        XCTAssertNotEqual(Renderer.diff(from: new, to: recoloured, mode: .truecolor), "")
    }

    func testPaletteModesSkipColoursThatMapToTheSameEntry() {
        var old = CellBuffer(width: 1, height: 1)
        old[x: 0, y: 0] = Cell("▀", fg: RGB(255, 0, 0))
        var new = old
        new[x: 0, y: 0].fg = RGB(250, 2, 3)
        XCTAssertEqual(Renderer.diff(from: old, to: new, mode: .palette256), "")
        XCTAssertEqual(ParsedOutput(Renderer.diff(from: old, to: new, mode: .truecolor)).text, "▀")
    }

    // MARK: ColorDepth

    func testColorDepthDetection() {
        let cases: [([String: String], Int, ColorMode)] = [
            (["TERM": "xterm-256color", "COLORTERM": "truecolor"], 256, .truecolor),
            (["TERM": "tmux-256color", "COLORTERM": "24bit"], 256, .truecolor),
            (["TERM": "xterm-256color"], 256, .palette256),
            (["TERM": "xterm-256color", "COLORTERM": "yes"], 256, .palette256),
            (["TERM": "linux", "COLORTERM": "1"], 8, .palette16),
            (["TERM": "xterm", "COLORTERM": "truecolor", "NO_COLOR": "1"], 256, .none),
            (["TERM": "xterm-256color", "NO_COLOR": ""], 256, .palette256),
            (["TERM": "xterm-direct"], 16_777_216, .truecolor),
            (["TERM": "xterm-16color"], 16, .palette16),
            (["TERM": "vt100"], -1, .palette16),
            (["TERM": "vt220"], 0, .palette16),
            (["TERM": "xterm-256color"], -1, .palette256),
            (["TERM": "xterm-direct"], -1, .truecolor),
            (["TERM": "dumb", "COLORTERM": "truecolor"], 256, .none),
            (["TERM": "mono"], 2, .none),
            ([:], -1, .none),
        ]
        for (environment, colors, expected) in cases {
            XCTAssertEqual(ColorDepth.detect(environment: environment, colors: colors), expected,
                           "\(environment) colors=\(colors)")
        }
    }

    func testColorModeSpellings() {
        XCTAssertEqual(ColorMode.allCases.map(\.rawValue), ["truecolor", "256", "16", "none"])
        XCTAssertEqual(ColorMode(rawValue: "256"), .palette256)
    }

    // MARK: Palette

    func testNearest256() {
        let expected: [(RGB, UInt8, String)] = [
            (RGB(255, 0, 0), 196, "pure red"), (RGB(0, 255, 0), 46, "pure green"), (RGB(0, 0, 255), 21, "pure blue"),
            (RGB(0, 0, 0), 16, "black: cube, not the themable 0"), (RGB(255, 255, 255), 231, "white"),
            (RGB(128, 128, 128), 244, "mid gray: ramp entry 8 + 10 * 12"), (RGB(0x87, 0x87, 0x87), 102, "cube gray"),
            (RGB(0xFF, 0x87, 0x00), 208, "cube orange"), (RGB(10, 12, 9), 232, "near-black: ramp 8 beats cube 0"),
        ]
        for (color, index, what) in expected {
            XCTAssertEqual(Palette.nearest256(color), index, what)
        }
    }

    func testNearest256IsCloseToTheBestOfAll240Entries() {
        // The fast path looks at one cube and one gray candidate; compare with all 240 under the same distance.
        let levels = Palette.cubeLevels
        var entries: [RGB] = (0..<216).map { i in
            RGB(UInt8(levels[i / 36]), UInt8(levels[i / 6 % 6]), UInt8(levels[i % 6]))
        }
        for i in 0..<24 {
            let v = UInt8(8 + 10 * i)
            entries.append(RGB(v, v, v))
        }
        var worst = 1.0
        for r in stride(from: 0, through: 255, by: 15) {
            for g in stride(from: 0, through: 255, by: 15) {
                for b in stride(from: 0, through: 255, by: 15) {
                    let c = RGB(UInt8(r), UInt8(g), UInt8(b))
                    let chosen = Double(Palette.distance(c, entries[Int(Palette.nearest256(c)) - 16]))
                    let best = Double(entries.map { Palette.distance(c, $0) }.min()!)
                    worst = max(worst, (chosen + 1) / (best + 1))
                }
            }
        }
        XCTAssertLessThan(worst, 1.2)  // 1.16 when written
    }

    func testNearest16() {
        let expected: [(RGB, UInt8)] = [
            (RGB(255, 0, 0), 9), (RGB(200, 0, 0), 1), (RGB(0, 0, 0), 0), (RGB(255, 255, 255), 15),
            (RGB(128, 128, 128), 8), (RGB(0, 0, 230), 4),
        ]
        for (color, index) in expected {
            XCTAssertEqual(Palette.nearest16(color), index, "\(color)")
        }
    }
}

/// Terminal output taken apart: cursor moves (`row;col`), SGR parameter strings, and the printed characters.
struct ParsedOutput {
    let raw: String
    var cursorMoves: [String] = []
    var sgr: [String] = []
    var text = ""

    init(_ raw: String) {
        self.raw = raw
        var chars = raw.makeIterator()
        while let c = chars.next() {
            guard c == "\u{1B}" else {
                text.append(c)
                continue
            }
            guard chars.next() == "[" else { continue }
            var params = ""
            while let p = chars.next() {
                if p.isLetter {
                    if p == "H" { cursorMoves.append(params) }
                    if p == "m" { sgr.append(params) }
                    break
                }
                params.append(p)
            }
        }
    }
}
