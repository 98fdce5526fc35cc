// Antialiased bilinear resampling, the algorithm of Pillow's `Image.resize(..., BILINEAR)` (libImaging/Resample.c)
// and torchvision's `resize(..., antialias=True)`: separable, horizontal pass then vertical pass, each output sample
// a normalised triangle-filter average of the inputs around its centre.

extension Image {
    /// The image resampled to `width` x `height` with antialiased bilinear filtering, exactly as Pillow's
    /// `resize(size, Image.BILINEAR)` on each channel.
    ///
    /// Method: separable, first along x then along y. Output pixel i along an axis scaled by s = in / out has its
    /// centre at (i + 0.5) * s in input coordinates and averages the inputs whose centres lie within the support
    /// max(s, 1), weighted by the triangle 1 - |d| / max(s, 1) (d: distance between centres) and normalised to sum
    /// 1. Upscaling (s < 1) is plain bilinear interpolation with half-pixel centres, clamped at the borders;
    /// downscaling widens the triangle so every input pixel contributes (antialiasing). Each pass rounds to the
    /// nearest 8-bit value using Pillow's 22-bit fixed-point weights, so results match Pillow byte for byte.
    /// An axis whose size does not change is not filtered. Channels, alpha included, are filtered independently
    /// (Pillow premultiplies RGBA by alpha first; the two agree on opaque images).
    ///
    /// - Parameters:
    ///   - width: output width in pixels, >= 1.
    ///   - height: output height in pixels, >= 1.
    /// - Returns: the resized image, `[height, width, 4]`.
    public func resized(width: Int, height: Int) -> Image {
        precondition(width > 0 && height > 0, "resize target \(width)x\(height) must be at least 1x1")
        precondition(self.width > 0 && self.height > 0, "cannot resize an empty \(self.width)x\(self.height) image")
        var pixels = rgba  // [H, W, 4]
        if width != self.width {
            pixels = resample8(pixels, outer: self.height, inner: 4,
                               taps: TriangleTaps(inSize: self.width, outSize: width))  // -> [H, width, 4]
        }
        if height != self.height {
            pixels = resample8(pixels, outer: 1, inner: width * 4,
                               taps: TriangleTaps(inSize: self.height, outSize: height))  // -> [height, width, 4]
        }
        return Image(width: width, height: height, rgba: pixels)
    }
}

/// Planar float data resampled with antialiased bilinear filtering, the float counterpart of `Image.resized`:
/// the same weights and passes, accumulated in Double with no rounding (Pillow mode "F"; torchvision
/// `resize(tensor, antialias=True)` agrees to float precision). Use it for model inputs.
///
/// - Parameters:
///   - data: `[channels, height, width]` values.
///   - channels: number of planes, >= 1.
///   - height: input height, >= 1.
///   - width: input width, >= 1.
///   - toHeight: output height, >= 1.
///   - toWidth: output width, >= 1.
/// - Returns: `[channels, toHeight, toWidth]` values.
public func resizedPlanar(_ data: [Float], channels: Int, height: Int, width: Int,
                          toHeight: Int, toWidth: Int) -> [Float] {
    precondition(channels > 0 && height > 0 && width > 0 && toHeight > 0 && toWidth > 0,
                 "resizedPlanar: sizes must be positive, got [\(channels), \(height), \(width)] -> "
                 + "[\(channels), \(toHeight), \(toWidth)]")
    precondition(data.count == channels * height * width,
                 "resizedPlanar: [\(channels), \(height), \(width)] needs \(channels * height * width) values, "
                 + "got \(data.count)")
    var planes = data  // [C, H, W]
    if toWidth != width {
        planes = resampleFloat(planes, outer: channels * height, inner: 1,
                               taps: TriangleTaps(inSize: width, outSize: toWidth))  // -> [C, H, toWidth]
    }
    if toHeight != height {
        planes = resampleFloat(planes, outer: channels, inner: toWidth,
                               taps: TriangleTaps(inSize: height, outSize: toHeight))  // -> [C, toHeight, toWidth]
    }
    return planes
}

/// The triangle-filter weights for resampling one axis of `inSize` samples to `outSize` (Pillow's
/// `precompute_coeffs` with the bilinear filter).
struct TriangleTaps {
    let inSize: Int
    let outSize: Int
    /// First input index used by each output index, `[outSize]`.
    let first: [Int]
    /// Number of input indices used by each output index, `[outSize]`.
    let count: [Int]
    /// Normalised weights, `[outSize, stride]`; entries past `count[i]` are 0.
    let weights: [Double]
    let stride: Int

    init(inSize: Int, outSize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filterScale  // the triangle's support (1) widened by the downscale factor
        let stride = Int(support.rounded(.up)) * 2 + 1
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Double](repeating: 0, count: outSize * stride)  // [outSize, stride]
        for i in 0..<outSize {
            let center = (Double(i) + 0.5) * scale
            // Int(_:) truncates toward zero like Pillow's (int) casts; keep it before clamping.
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inSize)
            var total = 0.0
            for k in 0..<(hi - lo) {
                let w = max(0, 1 - abs((Double(k + lo) - center + 0.5) / filterScale))
                weights[i * stride + k] = w
                total += w
            }
            if total != 0 {
                for k in 0..<(hi - lo) { weights[i * stride + k] /= total }
            }
            first[i] = lo
            count[i] = hi - lo
        }
        self.inSize = inSize
        self.outSize = outSize
        self.first = first
        self.count = count
        self.weights = weights
        self.stride = stride
    }
}

/// Resamples the middle axis of `[outer, taps.inSize, inner]` bytes to `[outer, taps.outSize, inner]`, with
/// Pillow's 8-bit arithmetic: weights in 22-bit fixed point, round half up, clamp to 0...255.
func resample8(_ input: [UInt8], outer: Int, inner: Int, taps: TriangleTaps) -> [UInt8] {
    let precisionBits = 22  // 32 - 8 - 2 in Pillow: leaves headroom for the sum in Int32
    let one = Double(1 << precisionBits)
    let fixed = taps.weights.map { Int32(($0 < 0 ? $0 * one - 0.5 : $0 * one + 0.5).rounded(.towardZero)) }
    return resampleAxis(input, outer: outer, inner: inner, taps: taps) { src, first, step, row, count in
        var sum = Int32(1 << (precisionBits - 1))
        for k in 0..<count { sum += Int32(src[first + k * step]) * fixed[row + k] }
        return UInt8(clamping: sum >> precisionBits)
    }
}

/// Resamples the middle axis of `[outer, taps.inSize, inner]` floats to `[outer, taps.outSize, inner]`,
/// accumulating in Double without rounding.
func resampleFloat(_ input: [Float], outer: Int, inner: Int, taps: TriangleTaps) -> [Float] {
    resampleAxis(input, outer: outer, inner: inner, taps: taps) { src, first, step, row, count in
        var sum = 0.0
        for k in 0..<count { sum += Double(src[first + k * step]) * taps.weights[row + k] }
        return Float(sum)
    }
}

/// Maps `[outer, taps.inSize, inner]` to `[outer, taps.outSize, inner]`: each output sample is
/// `sample(input, first, step, row, count)`, a weighted sum of the `count` inputs at `first + k * step` with the
/// weights at `row + k` of `taps.weights`.
private func resampleAxis<Sample: Numeric>(
    _ input: [Sample], outer: Int, inner: Int, taps: TriangleTaps,
    sample: (UnsafeBufferPointer<Sample>, _ first: Int, _ step: Int, _ row: Int, _ count: Int) -> Sample
) -> [Sample] {
    precondition(input.count == outer * taps.inSize * inner,
                 "resample: [\(outer), \(taps.inSize), \(inner)] needs \(outer * taps.inSize * inner) values, "
                 + "got \(input.count)")
    var output = [Sample](repeating: 0, count: outer * taps.outSize * inner)
    input.withUnsafeBufferPointer { src in
        output.withUnsafeMutableBufferPointer { dst in
            for o in 0..<outer {
                for i in 0..<taps.outSize {
                    for j in 0..<inner {
                        dst[(o * taps.outSize + i) * inner + j] =
                            sample(src, (o * taps.inSize + taps.first[i]) * inner + j, inner,
                                   i * taps.stride, taps.count[i])
                    }
                }
            }
        }
    }
    return output
}

extension Image {
    /// torchvision's `Resize(size)` with an int size on a PIL image: the shorter side becomes `size`, the longer
    /// one `int(size * long / short)` (truncated), resampled as `resized` (Pillow's antialiased bilinear).
    public func resizedShorterSide(to size: Int) -> Image {
        precondition(size > 0, "resize size \(size) must be positive")
        if width <= height {
            let h = Int(Double(size) * Double(height) / Double(width))
            return width == size && height == h ? self : resized(width: size, height: h)
        }
        let w = Int(Double(size) * Double(width) / Double(height))
        return height == size && width == w ? self : resized(width: w, height: size)
    }

    /// torchvision's `CenterCrop`: the top-left corner at `round((H - h) / 2)`, `round((W - w) / 2)` with Python's
    /// round-half-to-even; an image smaller than the crop is zero-padded first (as torchvision pads).
    public func centerCropped(width cw: Int, height ch: Int) -> Image {
        precondition(cw > 0 && ch > 0, "crop size \(cw)x\(ch) must be positive")
        // torchvision pads a too-small image symmetrically (left/top get the floor half) with zeros.
        let padLeft = max(0, (cw - width) / 2), padTop = max(0, (ch - height) / 2)
        let pw = max(width, cw), ph = max(height, ch)
        let left = Int((Double(pw - cw) / 2).rounded(.toNearestOrEven))
        let top = Int((Double(ph - ch) / 2).rounded(.toNearestOrEven))
        var out = [UInt8](repeating: 0, count: cw * ch * 4)
        for y in 0..<ch {
            for x in 0..<cw {
                let sx = x + left - padLeft, sy = y + top - padTop
                guard sx >= 0 && sx < width && sy >= 0 && sy < height else { continue }
                for k in 0..<4 { out[(y * cw + x) * 4 + k] = rgba[(sy * width + sx) * 4 + k] }
            }
        }
        return Image(width: cw, height: ch, rgba: out)
    }
}
