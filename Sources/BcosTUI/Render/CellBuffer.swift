/// An off-screen grid of cells that views draw into; `Renderer.diff` turns two of them into terminal output.
///
/// Every cell is one column wide, so column arithmetic in views is plain counting: `put` replaces text that
/// terminals draw two columns wide (CJK, emoji) with "?" and control characters with a space.
public struct CellBuffer: Equatable, Sendable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Row-major, `width * height` cells.
    private var cells: [Cell]

    /// A buffer of blank cells; negative sizes count as 0.
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: .blank, count: self.width * self.height)
    }

    /// The cell at column `x`, row `y` (0-based, labelled: `buffer[x: 3, y: 1]`); reading outside gives `.blank`, writing outside is ignored.
    public subscript(x x: Int, y y: Int) -> Cell {
        get { contains(x: x, y: y) ? cells[y * width + x] : .blank }
        set { if contains(x: x, y: y) { cells[y * width + x] = newValue } }
    }

    /// Whether (x, y) lies inside the buffer.
    public func contains(x: Int, y: Int) -> Bool {
        x >= 0 && x < width && y >= 0 && y < height
    }

    /// Writes text from (x, y), clipped at the buffer edge and at maxWidth; returns columns written.
    ///
    /// One cell per character: characters drawn two columns wide become "?", control characters (tab, newline)
    /// a space, and zero-width ones (a lone combining mark) are dropped.
    /// - Parameters:
    ///   - text: the text; it does not wrap.
    ///   - x: first column; may be negative (the part left of column 0 is clipped).
    ///   - y: row; outside the buffer nothing is written.
    ///   - maxWidth: at most this many columns from `x`; nil is up to the right edge.
    /// - Returns: the number of cells written inside the buffer.
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, fg: RGB? = nil, bg: RGB? = nil, bold: Bool = false,
                             reverse: Bool = false, dim: Bool = false, maxWidth: Int? = nil) -> Int {
        guard y >= 0, y < height else { return 0 }
        let end = min(width, maxWidth.map { x + max(0, $0) } ?? width)
        var col = x
        var written = 0
        for ch in text {
            guard col < end else { break }
            let glyph: Character
            switch CharacterWidth.of(ch) {
            case 0: continue
            case 1: glyph = ch
            case 2: glyph = "?"
            default: glyph = " "
            }
            if col >= 0 {
                cells[y * width + col] = Cell(char: glyph, fg: fg, bg: bg, bold: bold, reverse: reverse, dim: dim)
                written += 1
            }
            col += 1
        }
        return written
    }

    /// Sets every cell of the rectangle (clipped to the buffer) to `cell`.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, with cell: Cell) {
        let x0 = max(0, x), x1 = min(width, x + w)
        let y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            let base = row * width
            for col in x0..<x1 { cells[base + col] = cell }
        }
    }

    /// Draws an RGB image (row-major, 3 bytes per pixel, w x h pixels) with upper half blocks: cell (cx, cy) shows
    /// pixel rows 2cy (fg) and 2cy+1 (bg); an odd last row uses the default background.
    /// - Parameters:
    ///   - rgb: `[h, w, 3]` bytes, at least `w * h * 3`.
    ///   - w: image width in pixels = columns used.
    ///   - h: image height in pixels; rows used are `(h + 1) / 2`.
    ///   - x: column of the top-left cell; the image is clipped at the buffer edges.
    ///   - y: row of the top-left cell.
    public mutating func drawImage(_ rgb: [UInt8], width w: Int, height h: Int, x: Int, y: Int) {
        precondition(w >= 0 && h >= 0 && rgb.count >= w * h * 3,
                     "drawImage: \(rgb.count) bytes for a \(w)x\(h) RGB image (needs \(w * h * 3))")
        let rows = (h + 1) / 2
        let cx0 = max(0, -x), cx1 = min(w, width - x)
        let cy0 = max(0, -y), cy1 = min(rows, height - y)
        guard cx0 < cx1, cy0 < cy1 else { return }
        rgb.withUnsafeBufferPointer { px in
            func pixel(_ col: Int, _ row: Int) -> RGB {
                let i = (row * w + col) * 3
                return RGB(px[i], px[i + 1], px[i + 2])
            }
            for cy in cy0..<cy1 {
                let top = 2 * cy, bottom = 2 * cy + 1
                let base = (y + cy) * width + x
                for cx in cx0..<cx1 {
                    cells[base + cx] = Cell(char: "▀", fg: pixel(cx, top), bg: bottom < h ? pixel(cx, bottom) : nil)
                }
            }
        }
    }

    /// Draws a frame of light box-drawing lines around the rectangle; the inside is left as it is.
    /// - Parameters:
    ///   - title: shown in the top edge as "┌ title ─┐", cut to fit.
    ///   - highlighted: bold frame and reversed title (visible without colour), for the focused pane.
    ///   - fg: frame and title colour; nil is the default foreground.
    public mutating func box(x: Int, y: Int, width w: Int, height h: Int, title: String? = nil,
                             highlighted: Bool = false, fg: RGB? = nil) {
        guard w >= 2, h >= 2 else { return }
        let line = Cell(char: "─", fg: fg, bold: highlighted)
        var edge = line
        for col in x + 1..<x + w - 1 {
            self[x: col, y: y] = line
            self[x: col, y: y + h - 1] = line
        }
        edge.char = "│"
        for row in y + 1..<y + h - 1 {
            self[x: x, y: row] = edge
            self[x: x + w - 1, y: row] = edge
        }
        for (col, row, ch) in [(x, y, "┌"), (x + w - 1, y, "┐"), (x, y + h - 1, "└"), (x + w - 1, y + h - 1, "┘")]
            as [(Int, Int, Character)] {
            edge.char = ch
            self[x: col, y: row] = edge
        }
        if let title, !title.isEmpty, w >= 5 {
            put(" \(title) ", x: x + 1, y: y, fg: fg, bold: highlighted, reverse: highlighted, maxWidth: w - 2)
        }
    }

    /// Text snapshot for tests: one line per row, trailing spaces trimmed; image cells shown as their char.
    /// No escape codes.
    public func text() -> String {
        var lines: [String] = []
        lines.reserveCapacity(height)
        for row in 0..<height {
            var line = String(cells[row * width..<(row + 1) * width].map(\.char))
            while line.last == " " { line.removeLast() }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
