/// Reads and decodes an image file, choosing the decoder by the file's first bytes (not its name).
///
/// - Parameter path: a PNG or JPEG file.
/// - Returns: the image as 8-bit RGBA.
/// - Throws: `DataError` naming `path` if the file is missing, empty, neither PNG nor JPEG, truncated or corrupt,
///   or larger than `PNG.maxPixels` / `PNG.maxSide`.
public func readImage(_ path: String) throws -> Image {
    let bytes = try readWholeFile(path, kind: "image")
    if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
        return try PNG.decode(bytes, name: path)
    }
    if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
        return try JPEG.decode(bytes, name: path)
    }
    guard !bytes.isEmpty else {
        throw DataError("image '\(path)' is empty (0 bytes); re-export or re-download it")
    }
    let start = bytes.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
    throw DataError("cannot read image '\(path)': neither PNG nor JPEG (it starts with bytes \(start)); "
                    + "convert it to PNG")
}
