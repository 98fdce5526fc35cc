import BcosEngine

/// Turning explanations into pictures (BCOS_REFERENCE §3): the B-cos colour explanation and signed
/// contribution maps. Outputs are plain row-major buffers; PNG encoding lives in BcosData.
public enum Visualize {
    /// The q-th percentile (0...100) with linear interpolation between order statistics, as numpy/torch do.
    public static func percentile(_ values: [Float], _ q: Double) -> Float {
        precondition(!values.isEmpty, "percentile of nothing")
        let sorted = values.sorted()
        let pos = q / 100 * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let frac = Float(pos - Double(lo))
        return sorted[lo] + (sorted[hi] - sorted[lo]) * frac
    }

    /// Mean filter of odd size `k`, stride 1, zero padding `(k-1)/2` counted in the mean (PyTorch avg_pool2d).
    public static func meanFilter(_ plane: [Float], height h: Int, width w: Int, size k: Int) -> [Float] {
        precondition(k >= 1 && k % 2 == 1, "mean filter size must be odd, got \(k)")
        if k == 1 { return plane }
        let r = (k - 1) / 2
        let inv = 1 / Float(k * k)
        var out = [Float](repeating: 0, count: h * w)
        for y in 0..<h {
            for x in 0..<w {
                var acc: Float = 0
                for yy in max(0, y - r)..<min(h, y + r + 1) {
                    for xx in max(0, x - r)..<min(w, x + r + 1) { acc += plane[yy * w + xx] }
                }
                out[y * w + x] = acc * inv
            }
        }
        return out
    }

    /// The B-cos colour explanation: RGBA in [0, 1], `[H, W, 4]` row-major.
    ///
    /// The colour of a pixel is the direction of W(x) in the encoded colour space (`[rgb, 1 - rgb]` halves),
    /// its opacity the norm of W(x), zero where the contribution is negative, optionally mean-filtered and
    /// normalised by the `alphaPercentile` percentile.
    /// - Parameters:
    ///   - input: encoded image `[C, H, W]`.
    ///   - weights: W(x) `[C, H, W]`.
    ///   - smooth: odd mean-filter size for the opacity; 1 (or 0) for none.
    public static func colourExplanation(input: Tensor, weights: Tensor, smooth: Int = 1,
                                         alphaPercentile: Double = 99.5) -> [Float] {
        precondition(input.shape == weights.shape && input.shape.count == 3, "shapes \(input.shape) vs \(weights.shape)")
        let c = input.shape[0], h = input.shape[1], w = input.shape[2], p = h * w
        let paired = c % 2 == 0
        let half = paired ? c / 2 : c
        var alpha = [Float](repeating: 0, count: p)
        var rgba = [Float](repeating: 0, count: p * 4)
        for i in 0..<p {
            var contrib: Float = 0, maxAbs: Float = 0, sq: Float = 0
            for ch in 0..<c {
                let wv = weights.data[ch * p + i]
                contrib += input.data[ch * p + i] * wv
                maxAbs = max(maxAbs, abs(wv))
                sq += wv * wv
            }
            let denom = maxAbs + 1e-12
            var rgb = [Float](repeating: 0, count: 3)
            for k in 0..<3 {
                let ch = min(k, half - 1)
                let pos = max(0, weights.data[ch * p + i] / denom)
                if paired {
                    let neg = max(0, weights.data[(ch + half) * p + i] / denom)
                    rgb[k] = pos / (pos + neg + 1e-12)
                } else {
                    rgb[k] = pos
                }
            }
            rgba[i * 4] = rgb[0]
            rgba[i * 4 + 1] = rgb[1]
            rgba[i * 4 + 2] = rgb[2]
            alpha[i] = contrib < 0 ? 1e-12 : sq.squareRoot()
        }
        if smooth > 1 { alpha = meanFilter(alpha, height: h, width: w, size: smooth) }
        let cut = percentile(alpha, alphaPercentile)
        for i in 0..<p { rgba[i * 4 + 3] = min(1, max(0, alpha[i] / cut)) }
        return rgba
    }

    /// RGBA floats over a solid background, as 8-bit RGB.
    public static func composite(_ rgba: [Float], background: Float = 0) -> [UInt8] {
        let p = rgba.count / 4
        var out = [UInt8](repeating: 0, count: p * 3)
        for i in 0..<p {
            let a = rgba[i * 4 + 3]
            for k in 0..<3 { out[i * 3 + k] = byte(rgba[i * 4 + k] * a + background * (1 - a)) }
        }
        return out
    }

    /// A signed map in blue-white-red (matplotlib `bwr`), symmetric around 0 and clipped at the
    /// `clipPercentile` percentile of |map| (v2's display). 8-bit RGB, `[H, W, 3]`.
    public static func signedColours(_ map: [Float], clipPercentile: Double = 99.5) -> (rgb: [UInt8], range: Float) {
        var range = percentile(map.map(abs), clipPercentile)
        if !(range > 0) { range = 1 }
        return (map.flatMap { bwr($0 / range) }, range)
    }

    /// matplotlib's `bwr` at t in [-1, 1]: blue (0,0,1) -> white -> red (1,0,0).
    public static func bwr(_ t: Float) -> [UInt8] {
        let v = min(1, max(-1, t.isFinite ? t : 0))
        return v < 0 ? [byte(1 + v), byte(1 + v), UInt8(255)] : [UInt8(255), byte(1 - v), byte(1 - v)]
    }

    private static func byte(_ v: Float) -> UInt8 { UInt8(min(255, max(0, (v * 255).rounded()))) }
}
