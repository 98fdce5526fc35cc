import CPNG
import Foundation

/// PNG decoding and encoding through libpng's simplified API (`png_image_*`), which reports errors by return
/// code; the classic API needs setjmp, which Swift cannot call.
///
/// Every PNG colour type and bit depth, palette with or without tRNS, and Adam7 interlacing decode to 8-bit
/// RGBA (`Image`). Conversions libpng applies (checked against libpng 1.6.39):
/// - 1/2/4-bit gray scales up exactly; palette and tRNS entries come back as stored; colour under alpha 0 is kept.
/// - 16-bit samples without a gAMA or sRGB chunk are taken as sRGB-encoded and become round(v / 257), colour and
///   alpha alike. (libpng's default would treat them as linear light and brighten them: 32768 -> 186.)
/// - A gAMA chunk is honoured: colour is converted from the file gamma to a display gamma of 2.2.
public enum PNG {
    /// The most pixels (64 Mpixel, width x height) an image may have; checked before any pixel memory is allocated.
    public static let maxPixels = 64 * 1024 * 1024
    /// The most pixels an image may have along either side.
    public static let maxSide = 32768

    /// Reads and decodes a PNG file.
    ///
    /// - Parameter path: the file to read.
    /// - Returns: the image as 8-bit RGBA.
    /// - Throws: `DataError` naming `path` if the file is missing, empty, not a PNG, truncated or corrupt, or
    ///   larger than `maxPixels` / `maxSide`.
    public static func read(_ path: String) throws -> Image {
        try decode(readWholeFile(path, kind: "image"), name: path)
    }

    /// Decodes PNG bytes held in memory.
    ///
    /// - Parameters:
    ///   - bytes: the whole PNG data stream.
    ///   - name: what to call the data in error messages, usually its path.
    /// - Returns: the image as 8-bit RGBA.
    /// - Throws: `DataError` naming `name` if the data is empty, not a PNG, truncated or corrupt, or larger than
    ///   `maxPixels` / `maxSide`.
    public static func decode(_ bytes: [UInt8], name: String) throws -> Image {
        guard !bytes.isEmpty else {
            throw DataError("image '\(name)' is empty (0 bytes); re-export or re-download it")
        }
        // libpng keeps reading from `bytes` until png_image_finish_read, so both calls stay inside this closure.
        return try bytes.withUnsafeBytes { memory in
            var control = png_image()
            control.version = bcos_png_image_version
            defer { png_image_free(&control) }  // no-op once libpng has freed it (finish_read and failures do)

            guard png_image_begin_read_from_memory(&control, memory.baseAddress, memory.count) != 0 else {
                if png_sig_cmp(bytes, 0, min(bytes.count, 8)) != 0 {
                    throw DataError("cannot read image '\(name)': not a PNG file (libpng: \(message(of: control)))")
                }
                throw corrupt(name, control)
            }
            let width = Int(control.width)
            let height = Int(control.height)
            guard width <= maxSide, height <= maxSide, width * height <= maxPixels else {
                throw DataError("image '\(name)' is \(width)x\(height) pixels, over the limit of \(maxPixels) "
                                + "pixels and \(maxSide) per side; downscale it first")
            }
            control.format = bcos_png_format_rgba
            // Must follow begin_read, which sets `flags`: 16-bit data without gamma information is sRGB, not linear.
            control.flags |= bcos_png_image_flag_16bit_srgb
            var rgba = [UInt8](repeating: 0, count: width * height * 4)  // [H, W, 4]
            let finished = rgba.withUnsafeMutableBytes { pixels in
                png_image_finish_read(&control, nil, pixels.baseAddress, 0, nil)
            }
            guard finished != 0 else { throw corrupt(name, control) }
            return Image(width: width, height: height, rgba: rgba)
        }
    }

    /// Encodes an image as an 8-bit RGBA PNG and writes it to a file.
    ///
    /// - Parameters:
    ///   - image: the image; width and height must be at least 1.
    ///   - path: where to write.
    ///   - overwrite: replace an existing file at `path`; when false an existing file is left alone and an error
    ///     is thrown.
    /// - Throws: `DataError` naming `path` if the file exists (and `overwrite` is false), the image is empty,
    ///   its folder is missing, or the file cannot be written.
    public static func write(_ image: Image, to path: String, overwrite: Bool = false) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw DataError("cannot write image '\(path)': it is a directory; give a file name")
        }
        guard overwrite || !FileManager.default.fileExists(atPath: path) else {
            throw DataError("refusing to overwrite '\(path)'; choose another path or remove it")
        }
        guard image.width > 0, image.height > 0 else {
            throw DataError("cannot write image '\(path)': it is \(image.width)x\(image.height) pixels; "
                            + "a PNG needs at least 1x1")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder) else {
            throw DataError("cannot write image '\(path)': folder '\(folder)' does not exist; create it first")
        }
        let encoded = try encode(image, name: path)
        do {
            try Data(encoded).write(to: URL(fileURLWithPath: path),
                                    options: overwrite ? .atomic : .withoutOverwriting)
        } catch CocoaError.fileWriteFileExists {
            throw DataError("refusing to overwrite '\(path)'; choose another path or remove it")
        } catch {
            throw DataError("cannot write image '\(path)': \(error.localizedDescription)")
        }
    }

    /// The image as PNG bytes (8-bit RGBA, no interlacing).
    private static func encode(_ image: Image, name: String) throws -> [UInt8] {
        var control = png_image()
        control.version = bcos_png_image_version
        control.width = UInt32(image.width)
        control.height = UInt32(image.height)
        control.format = bcos_png_format_rgba
        defer { png_image_free(&control) }
        var size = bcos_png_image_png_size_max(&control)
        var encoded = [UInt8](repeating: 0, count: Int(size))
        let written = encoded.withUnsafeMutableBytes { out in
            image.rgba.withUnsafeBytes { pixels in
                png_image_write_to_memory(&control, out.baseAddress, &size, 0, pixels.baseAddress, 0, nil)
            }
        }
        guard written != 0 else {
            throw DataError("cannot write image '\(name)': libpng failed to encode it (libpng: \(message(of: control)))")
        }
        encoded.removeSubrange(Int(size)...)
        return encoded
    }

    private static func corrupt(_ name: String, _ control: png_image) -> DataError {
        DataError("image '\(name)' is truncated or corrupt (libpng: \(message(of: control))); "
                  + "re-export or re-download it")
    }

    /// libpng's last error or warning text, which it keeps in a fixed 64-byte C string inside the control struct.
    private static func message(of control: png_image) -> String {
        withUnsafeBytes(of: control.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
