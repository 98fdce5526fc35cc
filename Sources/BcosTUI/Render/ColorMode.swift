/// How many colours the renderer may use; the raw values are the `--color` option's spellings.
public enum ColorMode: String, Sendable, CaseIterable {
    /// 24-bit `38;2;R;G;B` colours.
    case truecolor
    /// The xterm 256-colour palette (6x6x6 cube and gray ramp).
    case palette256 = "256"
    /// The 16 ANSI colours.
    case palette16 = "16"
    /// No colour at all; bold, dim, underline and reverse still show.
    case none
}

/// Picks the colour depth once at start-up.
public enum ColorDepth {
    /// Picks the mode from the environment (COLORTERM truecolor/24bit, NO_COLOR, TERM) and an ncurses colour count,
    /// per TERMINAL.md. Pure function for tests.
    ///
    /// In order: NO_COLOR set and non-empty -> none; TERM dumb -> none; COLORTERM exactly truecolor or 24bit
    /// (the Linux console sets COLORTERM=1, which means nothing) -> truecolor; a `*-direct` terminfo entry
    /// (colors >= 2^24) -> truecolor; colors >= 256 -> 256; colors >= 8 -> 16; no colour count (-1 or 0, e.g.
    /// before terminfo is read) -> a guess from TERM; otherwise none.
    /// - Parameters:
    ///   - environment: the process environment (`ProcessInfo.processInfo.environment`).
    ///   - colors: ncurses' `COLORS` / `tigetnum("colors")` for the terminal type.
    public static func detect(environment: [String: String], colors: Int) -> ColorMode {
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty { return .none }
        let term = environment["TERM"] ?? ""
        if term == "dumb" { return .none }
        if let colorterm = environment["COLORTERM"], colorterm == "truecolor" || colorterm == "24bit" {
            return .truecolor
        }
        if colors >= 1 << 24 { return .truecolor }
        if colors >= 256 { return .palette256 }
        if colors >= 8 { return .palette16 }
        if colors <= 0 {
            if term.hasSuffix("-direct") { return .truecolor }
            if term.contains("256color") { return .palette256 }
            if !term.isEmpty { return .palette16 }
        }
        return .none
    }
}
