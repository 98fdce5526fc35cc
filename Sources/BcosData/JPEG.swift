import CJPEG
import Foundation

/// JPEG decoding through libjpeg-turbo's TurboJPEG API, which reports errors by return code; libjpeg's classic API
/// exits the process or needs setjmp, which Swift cannot call.
///
/// Baseline and progressive JPEGs of any chroma subsampling decode to 8-bit RGB with libjpeg's defaults (accurate
/// integer DCT, smooth chroma upsampling: the same pixels as Pillow); grayscale JPEGs come out with R = G = B.
/// CMYK and YCCK JPEGs, which libjpeg cannot convert to RGB itself, are decoded to CMYK and converted here (see
/// `cmykToRGB`).
///
/// libjpeg-turbo *warnings* are treated as errors: a truncated file or corrupt entropy-coded data is only a warning
/// to libjpeg, which would fill the rest of the image with gray and carry on; a model should not train on that.
public enum JPEG {
    /// Reads and decodes a JPEG file.
    ///
    /// - Parameter path: the file to read.
    /// - Returns: the image as 8-bit RGBA, alpha 255.
    /// - Throws: `DataError` naming `path` if the file is missing, empty, not a JPEG, truncated or corrupt (warnings
    ///   included), or larger than `PNG.maxPixels` / `PNG.maxSide`.
    public static func read(_ path: String) throws -> Image {
        try decode(readWholeFile(path, kind: "image"), name: path)
    }

    /// Decodes JPEG bytes held in memory.
    ///
    /// - Parameters:
    ///   - bytes: the whole JPEG data stream.
    ///   - name: what to call the data in error messages, usually its path.
    /// - Returns: the image as 8-bit RGBA, alpha 255.
    /// - Throws: `DataError` naming `name` if the data is empty, not a JPEG, truncated or corrupt (warnings
    ///   included), or larger than `PNG.maxPixels` / `PNG.maxSide`.
    public static func decode(_ bytes: [UInt8], name: String) throws -> Image {
        guard !bytes.isEmpty else {
            throw DataError("image '\(name)' is empty (0 bytes); re-export or re-download it")
        }
        guard let handle = tjInitDecompress() else {
            throw DataError("cannot decode image '\(name)': libjpeg-turbo failed to start (\(message(of: nil)))")
        }
        defer { tjDestroy(handle) }
        return try bytes.withUnsafeBufferPointer { jpeg in
            var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            guard tjDecompressHeader3(handle, jpeg.baseAddress, UInt(jpeg.count),
                                      &width, &height, &subsampling, &colorspace) == 0 else {
                guard bytes.starts(with: [0xFF, 0xD8, 0xFF]) else {
                    throw DataError("cannot read image '\(name)': not a JPEG file "
                                    + "(libjpeg-turbo: \(message(of: handle)))")
                }
                throw corrupt(name, handle)
            }
            let (w, h) = (Int(width), Int(height))
            guard w > 0, h > 0 else {
                // libjpeg-turbo takes a stream that ends before its frame header for a tables-only one: no error.
                throw DataError("image '\(name)' is truncated or corrupt (it ends before the JPEG frame header); "
                                + "re-export or re-download it")
            }
            guard w <= PNG.maxSide, h <= PNG.maxSide, w * h <= PNG.maxPixels else {
                throw DataError("image '\(name)' is \(w)x\(h) pixels, over the limit of \(PNG.maxPixels) "
                                + "pixels and \(PNG.maxSide) per side; downscale it first")
            }
            let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
            let format = cmyk ? TJPF_CMYK : TJPF_RGB
            var packed = [UInt8](repeating: 0, count: w * h * (cmyk ? 4 : 3))  // [H, W, 4] CMYK or [H, W, 3] RGB
            let status = packed.withUnsafeMutableBufferPointer { pixels in
                tjDecompress2(handle, jpeg.baseAddress, UInt(jpeg.count), pixels.baseAddress,
                              width, 0, height, Int32(format.rawValue), TJFLAG_STOPONWARNING)
            }
            guard status == 0 else { throw corrupt(name, handle) }
            return cmyk ? Image(width: w, height: h, rgb: cmykToRGB(packed))
                        : Image(width: w, height: h, rgb: packed)
        }
    }

    /// CMYK as libjpeg returns it from an Adobe CMYK/YCCK JPEG to RGB: Adobe writes the inks inverted, so each
    /// decoded sample is 255 - ink, and R = round(C * K / 255) (likewise G with M, B with Y), the conversion of
    /// Pillow's `convert("RGB")` and web browsers.
    ///
    /// - Parameter cmyk: `[H, W, 4]` decoded samples.
    /// - Returns: `[H, W, 3]` RGB.
    private static func cmykToRGB(_ cmyk: [UInt8]) -> [UInt8] {
        let pixels = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: pixels * 3)  // [H, W, 3]
        for pixel in 0..<pixels {
            let k = UInt32(cmyk[pixel * 4 + 3])
            for channel in 0..<3 {
                rgb[pixel * 3 + channel] = UInt8((UInt32(cmyk[pixel * 4 + channel]) * k + 127) / 255)
            }
        }
        return rgb
    }

    private static func corrupt(_ name: String, _ handle: tjhandle) -> DataError {
        let warning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) ? ", a warning treated as an error" : ""
        return DataError("image '\(name)' is truncated or corrupt (libjpeg-turbo: \(message(of: handle))\(warning)); "
                         + "re-export or re-download it")
    }

    /// libjpeg-turbo's last error text for `handle` (or for a failed `tjInitDecompress` when nil).
    private static func message(of handle: tjhandle?) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "no message" }
        return String(cString: text)
    }
}
