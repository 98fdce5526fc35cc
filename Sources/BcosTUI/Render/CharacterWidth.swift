/// How many terminal columns a character takes, by the rules terminals (wcwidth) use.
///
/// Our own table rather than libc `wcwidth`, which answers -1 for everything non-ASCII under the C locale
/// that tests and some containers run in.
enum CharacterWidth {
    /// 0 (combining or format characters only), 1, or 2 (East Asian wide/fullwidth, emoji presentation);
    /// control characters count as -1.
    static func of(_ ch: Character) -> Int {
        if ch.isASCII {
            let v = ch.asciiValue ?? 0
            return v < 0x20 || v == 0x7F ? -1 : 1
        }
        let scalars = ch.unicodeScalars
        guard let first = scalars.first else { return 0 }
        let p = first.properties
        if p.generalCategory == .control { return -1 }
        if scalars.allSatisfy(isZeroWidth) { return 0 }
        if p.isEmojiPresentation || isEastAsianWide(first.value) { return 2 }
        // A text-default emoji with the emoji presentation selector (e.g. "❤️") is drawn two wide.
        if p.isEmoji && scalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
        return 1
    }

    private static func isZeroWidth(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return true
        default: return s.properties.isVariationSelector
        }
    }

    /// East Asian Width W or F blocks (Unicode 15), emoji aside; precise enough for file and class names.
    private static let wideRanges: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
        0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
        0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x18CFF, 0x1B000...0x1B2FF, 0x1F200...0x1F2FF,
        0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    private static func isEastAsianWide(_ v: UInt32) -> Bool {
        v >= 0x1100 && wideRanges.contains { $0.contains(v) }
    }
}
