import BcosEngine
import Foundation

/// Exported pictures: signed maps (optionally over the image, with a colour bar) and labelled composite panels.
public enum Pictures {
    /// A pixel rectangle of an image.
    public struct Region: Sendable, Equatable {
        public var y: Int, x: Int, height: Int, width: Int

        public init(y: Int, x: Int, height: Int, width: Int) {
            self.y = y
            self.x = x
            self.height = height
            self.width = width
        }
    }

    /// The smallest rectangle holding every pixel where W(x) `[C, H, W]` is nonzero: the part of the image a neuron's
    /// receptive field covers (convolutions with zero padding give exactly 0 outside it). The whole image if W is 0.
    public static func support(of weights: Tensor) -> Region {
        let c = weights.shape[0], h = weights.shape[1], w = weights.shape[2]
        var y0 = h, y1 = -1, x0 = w, x1 = -1
        for ch in 0..<c {
            for y in 0..<h {
                for x in 0..<w where weights.data[(ch * h + y) * w + x] != 0 {
                    y0 = min(y0, y); y1 = max(y1, y); x0 = min(x0, x); x1 = max(x1, x)
                }
            }
        }
        guard y1 >= 0 else { return Region(y: 0, x: 0, height: h, width: w) }
        return Region(y: y0, x: x0, height: y1 - y0 + 1, width: x1 - x0 + 1)
    }

    /// The pixels of `region` of an RGB image `[H, W, 3]` of width `w`, as `[region.height, region.width, 3]`.
    public static func crop(_ rgb: [UInt8], width w: Int, to region: Region) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(region.height * region.width * 3)
        for y in region.y..<(region.y + region.height) {
            out += rgb[((y * w + region.x) * 3)..<((y * w + region.x + region.width) * 3)]
        }
        return out
    }

    /// The integer nearest-neighbour factor that makes the longer side of an exported picture at least 256 px.
    public static func defaultUpscale(height h: Int, width w: Int) -> Int {
        let m = max(1, max(h, w))
        return max(1, (256 + m - 1) / m)
    }

    /// A signed map `[H*W]` in blue-white-red, clipped at the 99.5th percentile of |map| (the range returned).
    /// With `over` (the image as `[H, W, 3]` RGB), the colour is laid over a grey copy of the image with opacity
    /// |map| / range, so the image shows through where the map is near 0.
    public static func signedMap(_ map: [Float], over image: [UInt8]? = nil) -> (rgb: [UInt8], range: Float) {
        let (colours, range) = Visualize.signedColours(map)
        guard let image else { return (colours, range) }
        var out = [UInt8](repeating: 0, count: colours.count)
        for i in 0..<map.count {
            let r = Float(image[i * 3]), g = Float(image[i * 3 + 1]), b = Float(image[i * 3 + 2])
            let grey = 0.299 * r + 0.587 * g + 0.114 * b
            let alpha = min(1, abs(map[i].isFinite ? map[i] : 0) / range)
            for k in 0..<3 {
                out[i * 3 + k] = UInt8(min(255, max(0, (alpha * Float(colours[i * 3 + k]) + (1 - alpha) * grey).rounded())))
            }
        }
        return (out, range)
    }

    /// A horizontal blue-white-red colour bar `length` x `thickness` px with its end labels (-range, 0, +range)
    /// underneath, in a canvas `length` wide.
    public static func colourBar(range: Float, length: Int, thickness: Int = 12, scale: Int = 2) -> Canvas {
        let labelGap = 3
        var c = Canvas(width: length, height: thickness + labelGap + Canvas.lineHeight * scale)
        for x in 0..<length {
            let t = length > 1 ? Float(x) / Float(length - 1) * 2 - 1 : 0
            c.fill(x: x, y: 0, w: 1, h: thickness, colour: Visualize.bwr(t))
        }
        let lo = "-" + number(range), hi = "+" + number(range)
        let y = thickness + labelGap
        c.text(lo, x: 0, y: y, scale: scale, colour: Canvas.black)
        c.text("0", x: (length - Canvas.textWidth("0", scale: scale)) / 2, y: y, scale: scale, colour: Canvas.black)
        c.text(hi, x: length - Canvas.textWidth(hi, scale: scale), y: y, scale: scale, colour: Canvas.black)
        return c
    }

    /// A signed map already coloured (`signedMap`) drawn at `factor`x with, when `bar` is set, a colour bar underneath.
    public static func signedPicture(_ signed: (rgb: [UInt8], range: Float), width w: Int, height h: Int, factor: Int,
                                     bar: Bool) -> Canvas {
        let (rgb, range) = signed
        let picture = Canvas(pixels: rgb, width: w, height: h, factor: factor)
        guard bar else { return picture }
        let strip = colourBar(range: range, length: picture.width, scale: picture.width >= 160 ? 2 : 1)
        var c = Canvas(width: picture.width, height: picture.height + 4 + strip.height)
        c.paste(picture, x: 0, y: 0)
        c.paste(strip, x: 0, y: picture.height + 4)
        return c
    }

    /// One tile of a panel: a title and `[h, w, 3]` pixels; `range` (for signed maps) adds a colour bar.
    public struct Tile: Sendable {
        public var title: String
        public var rgb: [UInt8]
        public var range: Float?
        public init(title: String, rgb: [UInt8], range: Float? = nil) {
            self.title = title
            self.rgb = rgb
            self.range = range
        }
    }

    /// Tiles of `w x h` pixels side by side, each upscaled by `factor`, titled above, signed ones with a colour
    /// bar below: the composite panel (image | colour explanation | contribution map | Δ map ...).
    public static func panel(_ tiles: [Tile], width w: Int, height h: Int, factor: Int) -> Canvas {
        let f = max(1, factor), tw = w * f, th = h * f, gap = max(6, tw / 16), margin = 8
        let scale = tw >= 160 ? 2 : 1
        let titleH = Canvas.lineHeight * scale + 6
        let anyBar = tiles.contains { $0.range != nil }
        let barH = anyBar ? 4 + colourBar(range: 1, length: tw, scale: scale).height : 0
        let count = max(1, tiles.count)
        var c = Canvas(width: margin * 2 + count * tw + (count - 1) * gap, height: margin * 2 + titleH + th + barH)
        for (i, tile) in tiles.enumerated() {
            let x = margin + i * (tw + gap)
            let title = fitted(tile.title, width: tw, scale: scale)
            c.text(title, x: x, y: margin, scale: scale, colour: Canvas.black)
            c.paste(tile.rgb, width: w, height: h, x: x, y: margin + titleH, factor: f)
            if let range = tile.range {
                c.paste(colourBar(range: range, length: tw, scale: scale), x: x, y: margin + titleH + th + 4)
            }
        }
        return c
    }

    /// `text` cut (with a trailing '.') to fit `width` px at `scale`.
    static func fitted(_ text: String, width: Int, scale: Int) -> String {
        var t = text
        while t.count > 1 && Canvas.textWidth(t, scale: scale) > width { t = String(t.dropLast(2)) + "." }
        return t
    }

    /// A short label for a colour-bar end: 3 significant digits.
    static func number(_ v: Float) -> String {
        let a = abs(Double(v))
        if a != 0 && (a < 1e-3 || a >= 1e4) { return String(format: "%.2e", a) }
        return String(format: "%.3g", a)
    }
}

/// A white RGB canvas with the few drawing operations the plots need; everything is clipped to the canvas.
public struct Canvas: Sendable, Equatable {
    public static let black: [UInt8] = [0, 0, 0]
    /// Pixels from one character's left edge to the next one's, before scaling (3 wide + 1 gap).
    public static let advance = 4

    public let width: Int
    public let height: Int
    /// `[height, width, 3]`.
    public var rgb: [UInt8]

    public init(width: Int, height: Int, background: UInt8 = 255) {
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: background, count: width * height * 3)
    }

    public mutating func set(_ x: Int, _ y: Int, _ colour: [UInt8]) {
        guard x >= 0 && x < width && y >= 0 && y < height else { return }
        let i = (y * width + x) * 3
        rgb[i] = colour[0]
        rgb[i + 1] = colour[1]
        rgb[i + 2] = colour[2]
    }

    public mutating func fill(x: Int, y: Int, w: Int, h: Int, colour: [UInt8]) {
        for yy in y..<(y + max(0, h)) {
            for xx in x..<(x + max(0, w)) { set(xx, yy, colour) }
        }
    }

    public mutating func outline(x: Int, y: Int, w: Int, h: Int, colour: [UInt8]) {
        hline(x, x + w - 1, y: y, colour: colour)
        hline(x, x + w - 1, y: y + h - 1, colour: colour)
        vline(x, y, y + h - 1, colour: colour)
        vline(x + w - 1, y, y + h - 1, colour: colour)
    }

    /// The pixels from `x0` to `x1` inclusive (either order) on row `y`.
    public mutating func hline(_ x0: Int, _ x1: Int, y: Int, colour: [UInt8]) {
        for x in min(x0, x1)...max(x0, x1) { set(x, y, colour) }
    }

    /// The pixels from `y0` to `y1` inclusive (either order) in column `x`.
    public mutating func vline(_ x: Int, _ y0: Int, _ y1: Int, colour: [UInt8]) {
        for y in min(y0, y1)...max(y0, y1) { set(x, y, colour) }
    }

    /// A canvas holding `pixels` (`[h, w, 3]`) upscaled by nearest neighbour.
    public init(pixels: [UInt8], width w: Int, height h: Int, factor: Int = 1) {
        self.init(width: w * max(1, factor), height: h * max(1, factor))
        paste(pixels, width: w, height: h, x: 0, y: 0, factor: factor)
    }

    /// Draws `pixels` (`[h, w, 3]`) with its top-left corner at (x, y), each pixel a `factor` square; clipped.
    public mutating func paste(_ pixels: [UInt8], width w: Int, height h: Int, x: Int, y: Int, factor: Int) {
        let f = max(1, factor)
        for py in 0..<(h * f) {
            let ty = y + py
            guard ty >= 0 && ty < height else { continue }
            for px in 0..<(w * f) {
                let tx = x + px
                guard tx >= 0 && tx < width else { continue }
                let src = ((py / f) * w + px / f) * 3, dst = (ty * width + tx) * 3
                rgb[dst] = pixels[src]; rgb[dst + 1] = pixels[src + 1]; rgb[dst + 2] = pixels[src + 2]
            }
        }
    }

    /// Draws another canvas with its top-left corner at (x, y).
    public mutating func paste(_ other: Canvas, x: Int, y: Int) {
        paste(other.rgb, width: other.width, height: other.height, x: x, y: y, factor: 1)
    }

    /// Width in pixels of `text` drawn at `scale`.
    public static func textWidth(_ text: String, scale: Int) -> Int { max(0, text.count * advance - 1) * scale }

    /// Draws `text` in the 3x5 font, each font pixel a `scale x scale` square, top-left corner at (x, y);
    /// lower case is drawn as capitals and characters without a glyph as '?'.
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int, colour: [UInt8]) {
        for (i, ch) in text.uppercased().enumerated() {
            let bits = Array(Self.glyphs[ch] ?? Self.glyphs["?"]!)
            for row in 0..<5 {
                for col in 0..<3 where bits[row * 3 + col] == "1" {
                    fill(x: x + (i * Self.advance + col) * scale, y: y + row * scale, w: scale, h: scale, colour: colour)
                }
            }
        }
    }

    /// Height of a line of text before scaling.
    public static let lineHeight = 5

    /// A 3x5 pixel font: five rows of three pixels, top row first.
    static let glyphs: [Character: String] = [
        "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110",
        "E": "111100110100111", "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
        "I": "111010010010111", "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
        "M": "101111111101101", "N": "110101101101101", "O": "010101101101010", "P": "110101110100100",
        "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
        "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
        "Y": "101101010010010", "Z": "111001010100111",
        "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001011001111",
        "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
        "8": "111101111101111", "9": "111101111001111",
        " ": "000000000000000", ".": "000000000000010", ",": "000000000010100", ":": "000010000010000",
        "-": "000000111000000", "_": "000000000000111", "+": "000010111010000", "=": "000111000111000",
        "/": "001001010100100", "(": "010100100100010", ")": "010001001001010", "%": "101001010100101",
        "?": "110001010000010",
    ]
}
