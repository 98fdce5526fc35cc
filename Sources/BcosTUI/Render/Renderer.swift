/// Turns cell buffers into terminal output: cursor moves and SGR sequences for the cells that changed.
public enum Renderer {
    /// The bytes that turn a terminal showing `old` (nil = unknown/garbage: redraw everything, starting with a
    /// clear) into `new`: cursor moves + SGR for changed cells only, ending with SGR reset; colours per `mode`
    /// (none: no colour at all, but keep reverse/bold so selection stays visible).
    ///
    /// A buffer of another size than `old` counts as a full redraw. Identical buffers give "". Every run of
    /// changed cells starts with an absolute move (`ESC[row;colH`), and each style change is one complete SGR
    /// (`ESC[0;...m`), so nothing depends on what the terminal had before. Newlines are never sent.
    public static func diff(from old: CellBuffer?, to new: CellBuffer, mode: ColorMode) -> String {
        var out = ""
        let previous: CellBuffer
        if let old, old.width == new.width, old.height == new.height {
            previous = old
        } else {
            // Reset first: erasing paints with the current background colour.
            out += "\u{1B}[0m\u{1B}[H\u{1B}[2J"
            previous = CellBuffer(width: new.width, height: new.height)
        }
        var pen: Style?  // unknown until the first SGR
        var cursor = (x: -1, y: -1)
        var wroteCells = false
        for y in 0..<new.height {
            for x in 0..<new.width {
                let cell = new[x: x, y: y]
                let before = previous[x: x, y: y]
                guard cell != before else { continue }
                let style = Style(cell, mode: mode)
                // Colours that map to the same palette entry (or none at all) look the same: skip.
                if cell.char == before.char, style == Style(before, mode: mode) { continue }
                if cursor.x != x || cursor.y != y { out += "\u{1B}[\(y + 1);\(x + 1)H" }
                if pen != style {
                    out += style.sgr
                    pen = style
                }
                out.append(cell.char)
                cursor = (x + 1, y)
                wroteCells = true
            }
        }
        if wroteCells { out += "\u{1B}[0m" }
        return out
    }
}

/// A terminal colour after mapping to a `ColorMode`.
private enum TerminalColor: Equatable {
    case rgb(RGB)
    case index(UInt8)

    init?(_ c: RGB?, mode: ColorMode) {
        guard let c else { return nil }
        switch mode {
        case .truecolor: self = .rgb(c)
        case .palette256: self = .index(Palette.nearest256(c))
        case .palette16: self = .index(Palette.nearest16(c))
        case .none: return nil
        }
    }

    /// SGR parameters; `background` picks 48/40/100 over 38/30/90. Indices below 16 use the classic codes, which
    /// 16-colour terminals (the Linux console) understand.
    func parameters(background: Bool, mode: ColorMode) -> String {
        switch self {
        case .rgb(let c): return "\(background ? 48 : 38);2;\(c.r);\(c.g);\(c.b)"
        case .index(let i) where mode == .palette16:
            let base = i < 8 ? (background ? 40 : 30) : (background ? 100 : 90)
            return "\(base + Int(i % 8))"
        case .index(let i): return "\(background ? 48 : 38);5;\(i)"
        }
    }
}

/// The SGR state one cell needs.
private struct Style: Equatable {
    var fg: TerminalColor?
    var bg: TerminalColor?
    var bold, dim, underline, reverse: Bool
    var mode: ColorMode

    init(_ cell: Cell, mode: ColorMode) {
        fg = TerminalColor(cell.fg, mode: mode)
        bg = TerminalColor(cell.bg, mode: mode)
        bold = cell.bold
        dim = cell.dim
        underline = cell.underline
        reverse = cell.reverse
        self.mode = mode
    }

    /// `ESC[0;...m`: a reset followed by this style's attributes and colours.
    var sgr: String {
        var s = "\u{1B}[0"
        if bold { s += ";1" }
        if dim { s += ";2" }
        if underline { s += ";4" }
        if reverse { s += ";7" }
        if let fg { s += ";" + fg.parameters(background: false, mode: mode) }
        if let bg { s += ";" + bg.parameters(background: true, mode: mode) }
        return s + "m"
    }
}
