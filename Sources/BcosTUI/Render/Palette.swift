/// Nearest entries of the xterm palettes for 24-bit colours.
public enum Palette {
    /// The channel levels of the 6x6x6 cube (indices 16...231).
    static let cubeLevels: [Int] = [0x00, 0x5F, 0x87, 0xAF, 0xD7, 0xFF]

    /// The usual xterm values of the 16 ANSI colours; terminals theme them, so this is a guess.
    static let ansi16: [RGB] = [
        RGB(0, 0, 0), RGB(205, 0, 0), RGB(0, 205, 0), RGB(205, 205, 0),
        RGB(0, 0, 238), RGB(205, 0, 205), RGB(0, 205, 205), RGB(229, 229, 229),
        RGB(127, 127, 127), RGB(255, 0, 0), RGB(0, 255, 0), RGB(255, 255, 0),
        RGB(92, 92, 255), RGB(255, 0, 255), RGB(0, 255, 255), RGB(255, 255, 255),
    ]

    /// The nearest xterm-256 index in 16...255: the 6x6x6 cube (levels 00 5f 87 af d7 ff) or the gray ramp
    /// (232 + i is 8 + 10i), by weighted distance. The themable 0...15 are never chosen.
    public static func nearest256(_ c: RGB) -> UInt8 {
        let r = Int(c.r), g = Int(c.g), b = Int(c.b)
        let ri = nearestCubeLevel(r), gi = nearestCubeLevel(g), bi = nearestCubeLevel(b)
        let cube = (cubeLevels[ri], cubeLevels[gi], cubeLevels[bi])
        let grayIndex = min(23, max(0, ((r + g + b) / 3 - 8 + 5) / 10))
        let gray = 8 + 10 * grayIndex
        let cubeDistance = distance(r, g, b, cube.0, cube.1, cube.2)
        let grayDistance = distance(r, g, b, gray, gray, gray)
        return grayDistance < cubeDistance ? UInt8(232 + grayIndex) : UInt8(16 + 36 * ri + 6 * gi + bi)
    }

    /// The nearest of the 16 ANSI colours (0...7 normal, 8...15 bright), by weighted distance to xterm's defaults.
    public static func nearest16(_ c: RGB) -> UInt8 {
        let r = Int(c.r), g = Int(c.g), b = Int(c.b)
        var best = 0, bestDistance = Int.max
        for (i, p) in ansi16.enumerated() {
            let d = distance(r, g, b, Int(p.r), Int(p.g), Int(p.b))
            if d < bestDistance { best = i; bestDistance = d }
        }
        return UInt8(best)
    }

    /// Index of the cube level nearest to `v` (0...255).
    private static func nearestCubeLevel(_ v: Int) -> Int {
        if v < 48 { return 0 }
        if v < 115 { return 1 }
        return min(5, (v - 35) / 40)
    }

    /// `distance` between two colours.
    static func distance(_ a: RGB, _ b: RGB) -> Int {
        distance(Int(a.r), Int(a.g), Int(a.b), Int(b.r), Int(b.g), Int(b.b))
    }

    /// Squared "redmean" distance: a cheap perceptual weighting that counts green most and shifts weight between
    /// red and blue with the mean red (times 256 to stay in integers).
    private static func distance(_ r1: Int, _ g1: Int, _ b1: Int, _ r2: Int, _ g2: Int, _ b2: Int) -> Int {
        let rMean = (r1 + r2) / 2
        let dr = r1 - r2, dg = g1 - g2, db = b1 - b2
        return (512 + rMean) * dr * dr + 1024 * dg * dg + (767 - rMean) * db * db
    }
}
