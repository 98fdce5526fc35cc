/// A 24-bit colour; the renderer maps it down to the terminal's colour depth.
public struct RGB: Equatable, Hashable, Sendable {
    /// Red, green and blue, 0...255 each.
    public var r, g, b: UInt8

    /// Makes a colour from its red, green and blue components.
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }
}

/// One terminal cell: a character one column wide, its colours and attributes.
public struct Cell: Equatable, Sendable {
    /// The character shown; always one terminal column wide ("▀" for image half blocks).
    public var char: Character
    /// Foreground colour; nil is the terminal's default.
    public var fg: RGB?
    /// Background colour; nil is the terminal's default.
    public var bg: RGB?
    /// Bold (bright) text.
    public var bold = false
    /// Foreground and background swapped; stays visible without colour, so selections use it.
    public var reverse = false
    /// Underlined text.
    public var underline = false
    /// Faint text.
    public var dim = false

    /// A space in the default colours, no attributes: what a cleared terminal shows.
    public static let blank = Cell(char: " ")
}

extension Cell {
    /// Makes a cell; `char` must be one terminal column wide (use `CellBuffer.put` for arbitrary text).
    public init(_ char: Character, fg: RGB? = nil, bg: RGB? = nil, bold: Bool = false, reverse: Bool = false,
                underline: Bool = false, dim: Bool = false) {
        self.init(char: char, fg: fg, bg: bg, bold: bold, reverse: reverse, underline: underline, dim: dim)
    }
}
