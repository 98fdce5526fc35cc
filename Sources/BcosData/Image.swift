/// An 8-bit RGBA image in memory: rows top to bottom, pixels left to right, channels R, G, B, A interleaved.
///
/// Colour is sRGB-encoded and not premultiplied by alpha (alpha 255 is opaque).
public struct Image: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// The pixels, `[height, width, 4]` row-major with R, G, B, A interleaved; `count == width * height * 4`.
    public let rgba: [UInt8]

    /// Creates an image from interleaved RGBA bytes.
    ///
    /// - Parameters:
    ///   - width: width in pixels, >= 0.
    ///   - height: height in pixels, >= 0.
    ///   - rgba: `[height, width, 4]` bytes, R, G, B, A interleaved; must hold exactly `width * height * 4` values.
    public init(width: Int, height: Int, rgba: [UInt8]) {
        precondition(width >= 0 && height >= 0, "Image size \(width)x\(height) is negative")
        precondition(rgba.count == width * height * 4,
                     "Image \(width)x\(height) needs \(width * height * 4) RGBA bytes, got \(rgba.count)")
        self.width = width
        self.height = height
        self.rgba = rgba
    }

    /// Creates an opaque image from interleaved RGB bytes (alpha set to 255).
    ///
    /// - Parameters:
    ///   - width: width in pixels, >= 0.
    ///   - height: height in pixels, >= 0.
    ///   - rgb: `[height, width, 3]` bytes, R, G, B interleaved; must hold exactly `width * height * 3` values.
    public init(width: Int, height: Int, rgb: [UInt8]) {
        precondition(rgb.count == width * height * 3,
                     "Image \(width)x\(height) needs \(width * height * 3) RGB bytes, got \(rgb.count)")
        var rgba = [UInt8](repeating: 255, count: width * height * 4)
        for pixel in 0..<(width * height) {
            rgba[pixel * 4] = rgb[pixel * 3]
            rgba[pixel * 4 + 1] = rgb[pixel * 3 + 1]
            rgba[pixel * 4 + 2] = rgb[pixel * 3 + 2]
        }
        self.init(width: width, height: height, rgba: rgba)
    }

    /// The colour channels as planar floats, `[3, height, width]` in [0, 1], after compositing over black.
    ///
    /// Each channel value c with alpha a becomes round(c * a / 255) / 255, so an opaque pixel gives c / 255
    /// exactly as torchvision's `ToTensor` does.
    public func planarRGB() -> [Float] {
        let plane = width * height
        var out = [Float](repeating: 0, count: 3 * plane)  // [3, H, W]
        for pixel in 0..<plane {
            let alpha = rgba[pixel * 4 + 3]
            for channel in 0..<3 {
                let value = Self.overBlack(rgba[pixel * 4 + channel], alpha: alpha)
                out[channel * plane + pixel] = Float(value) / 255
            }
        }
        return out
    }

    /// The luma as planar floats, `[1, height, width]` in [0, 1], after compositing over black.
    ///
    /// ITU-R 601-2 luma L = R * 299/1000 + G * 587/1000 + B * 114/1000 on the composited 8-bit values, rounded
    /// to an integer with PIL's fixed-point formula (the same bytes as PIL's `convert("L")`), then divided by 255.
    public func planarGray() -> [Float] {
        let plane = width * height
        var out = [Float](repeating: 0, count: plane)  // [1, H, W]
        for pixel in 0..<plane {
            let alpha = rgba[pixel * 4 + 3]
            let r = UInt32(Self.overBlack(rgba[pixel * 4], alpha: alpha))
            let g = UInt32(Self.overBlack(rgba[pixel * 4 + 1], alpha: alpha))
            let b = UInt32(Self.overBlack(rgba[pixel * 4 + 2], alpha: alpha))
            // 19595, 38470, 7471 are 299, 587, 114 / 1000 in 16.16 fixed point; 0x8000 rounds.
            let luma = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
            out[pixel] = Float(luma) / 255
        }
        return out
    }

    /// A colour byte composited over black: round(value * alpha / 255).
    private static func overBlack(_ value: UInt8, alpha: UInt8) -> UInt8 {
        UInt8((UInt32(value) * UInt32(alpha) + 127) / 255)
    }
}
