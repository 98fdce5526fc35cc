import Foundation

// IDX (http://yann.lecun.com/exdb/mnist/): a big-endian header, magic 0x00000803 for unsigned-byte 3-d data
// (count, rows, columns; images) or 0x00000801 for 1-d data (count; labels), then the bytes row-major.

extension Dataset {
    /// The Fashion-MNIST class names, in label order.
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    private static func idxPrefix(_ split: Split) -> String {
        split == .train ? "train" : "t10k"
    }

    /// The file in `folder` for `split` and `kind` ("images-idx3" or "labels-idx1"), compressed or not; nil if
    /// there is none.
    private static func idxFile(_ folder: String, _ split: Split, _ kind: String) -> String? {
        let dashed = "\(idxPrefix(split))-\(kind)-ubyte"
        let dotted = "\(idxPrefix(split))-" + kind.replacingOccurrences(of: "-idx", with: ".idx") + "-ubyte"
        return [dashed, dashed + ".gz", dotted, dotted + ".gz"]
            .map { joinPath(folder, $0) }
            .first { directoryExists($0) == false }
    }

    /// Whether `folder` holds an IDX images or labels file of either split.
    static func isIDXFolder(_ folder: String) -> Bool {
        Split.allCases.contains { split in
            idxFile(folder, split, "images-idx3") != nil || idxFile(folder, split, "labels-idx1") != nil
        }
    }

    /// Loads the images and labels files of `split` from `folder`; nil if a bad one was skipped.
    static func loadIDX(_ folder: String, split: Split, bad: inout BadFiles) throws -> Dataset? {
        let prefix = idxPrefix(split)
        guard let imagesFile = idxFile(folder, split, "images-idx3"),
              let labelsFile = idxFile(folder, split, "labels-idx1") else {
            throw DataError("IDX folder '\(folder)' lacks a file of the \(split) split; it needs "
                            + "\(prefix)-images-idx3-ubyte[.gz] and \(prefix)-labels-idx1-ubyte[.gz]")
        }
        do {
            let images = try readIDX(imagesFile, magic: 0x0000_0803)
            let labels = try readIDX(labelsFile, magic: 0x0000_0801)
            guard images.dims[0] == labels.dims[0] else {
                throw DataError("dataset file '\(labelsFile)' has \(labels.dims[0]) labels but '\(imagesFile)' has "
                                + "\(images.dims[0]) images; one of them is corrupt or from another dataset")
            }
            let labelValues = labels.data.map(Int.init)
            let largest = labelValues.max() ?? 0
            let fashion = URL(fileURLWithPath: folder).standardizedFileURL.lastPathComponent.lowercased()
                .contains("fashion")
            guard !fashion || largest < fashionMNISTClasses.count else {
                throw DataError("dataset file '\(labelsFile)' has label \(largest) but Fashion-MNIST has "
                                + "\(fashionMNISTClasses.count) classes; the file is corrupt, re-download it")
            }
            let classes = fashion ? fashionMNISTClasses : (0...max(9, largest)).map(String.init)
            return Dataset(classes: classes, channels: 1, height: images.dims[1], width: images.dims[2],
                           labels: labelValues, pixels: images.data, source: folder)
        } catch {
            try bad.handle(error)
            return nil
        }
    }

    /// The dimensions and data of an IDX file of unsigned bytes, decompressed first if it is gzip data.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - magic: 0x00000803 (3 dimensions: count, rows, columns) or 0x00000801 (1 dimension: count).
    /// - Returns: `dims` as in the header and `data`, `dims.reduce(1, *)` bytes.
    private static func readIDX(_ path: String, magic: UInt32) throws -> (dims: [Int], data: [UInt8]) {
        try parseIDX(readWholeFile(path, kind: "dataset file"), name: path, magic: magic)
    }

    /// The dimensions and data of IDX bytes held in memory (gzip-compressed or not), as `readIDX` reads a file.
    ///
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - name: what to call the data in error messages, usually its path.
    ///   - magic: 0x00000803 (3 dimensions: count, rows, columns) or 0x00000801 (1 dimension: count).
    /// - Returns: `dims` as in the header and `data`, `dims.reduce(1, *)` bytes.
    /// - Throws: `DataError` naming `name` if the data is corrupt gzip, has another magic number, is truncated or
    ///   claims images over `PNG.maxSide` per side.
    public static func parseIDX(_ bytes: [UInt8], name path: String, magic: UInt32) throws -> (dims: [Int], data: [UInt8]) {
        let header = 4 + 4 * Int(magic & 0xFF)
        var bytes = bytes
        let gzipped = bytes.starts(with: [0x1F, 0x8B])
        if gzipped {
            // The header first, so that a file of another kind (or a gzip bomb) is refused before it is inflated;
            // then no more than one byte past what the header promises, enough to tell that a file is too long.
            let dims = try idxDims(gunzip(bytes, name: path, prefix: header), name: path, magic: magic)
            bytes = try gunzip(bytes, name: path, prefix: header + dims.reduce(1, *) + 1)
        }
        let dims = try idxDims(bytes, name: path, magic: magic)
        let size = dims.reduce(1, *)
        guard bytes.count - header == size, size > 0 else {
            let held = gzipped && bytes.count - header > size ? "more than \(size)" : "\(bytes.count - header)"
            throw DataError("dataset file '\(path)' holds \(held) data bytes after its header, "
                            + "which promises \(dims.map(String.init).joined(separator: "x")) = \(size); "
                            + "it is truncated or corrupt, re-download it")
        }
        return (dims, Array(bytes[header...]))
    }

    /// The dimensions in the IDX header at the start of `bytes`, checked: magic number, length, image size.
    private static func idxDims(_ bytes: [UInt8], name path: String, magic: UInt32) throws -> [Int] {
        func word(_ offset: Int) -> UInt32 {
            bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        let rank = Int(magic & 0xFF)
        let header = 4 + 4 * rank
        if bytes.count >= 4, word(0) != magic {
            let kind = rank == 3 ? "images (3 dimensions)" : "labels (1 dimension)"
            throw DataError("dataset file '\(path)' is not an IDX file of \(kind): its magic number is "
                            + "\(hex(word(0))), expected \(hex(magic)); check the file names")
        }
        guard bytes.count >= header else {
            throw DataError("dataset file '\(path)' is \(bytes.count) bytes, shorter than its IDX header; "
                            + "it is truncated or corrupt, re-download it")
        }
        let dims = (0..<rank).map { Int(word(4 + 4 * $0)) }
        // Rows and columns within the image size limit keep the product below 2^62: no overflow.
        guard dims.dropFirst().allSatisfy({ (1...PNG.maxSide).contains($0) }) else {
            let side = dims.dropFirst().map(String.init).joined(separator: "x")
            throw DataError("dataset file '\(path)' claims images of \(side) pixels (1 to \(PNG.maxSide) per side "
                            + "allowed); it is corrupt, re-download it")
        }
        return dims
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
