import Foundation

// CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html): each file is a run of 3073-byte records,
// one label byte then 1024 R, 1024 G and 1024 B bytes of a 32x32 image, rows top to bottom.

extension Dataset {
    /// The standard CIFAR-10 class names, in label order.
    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"]

    private static let cifarSide = 32
    private static let cifarRecord = 1 + 3 * 32 * 32

    private static func cifarFiles(_ split: Split) -> [String] {
        switch split {
        case .train: return (1...5).map { "data_batch_\($0).bin" }
        case .test: return ["test_batch.bin"]
        }
    }

    /// `path` or `path/cifar-10-batches-bin`, whichever holds a CIFAR-10 batch file; nil if neither does.
    static func cifarFolder(_ path: String) -> String? {
        let names = cifarFiles(.train) + cifarFiles(.test)
        return [path, joinPath(path, "cifar-10-batches-bin")].first { folder in
            names.contains { directoryExists(joinPath(folder, $0)) == false }
        }
    }

    /// Loads the batch files of `split` from `folder`; nil if every one of them was skipped.
    static func loadCIFAR(_ folder: String, split: Split, bad: inout BadFiles) throws -> Dataset? {
        let classes = try cifarClasses(folder)
        let files = cifarFiles(split).map { joinPath(folder, $0) }
        var labels: [Int] = []
        var pixels: [UInt8] = []  // [N, 3, 32, 32]
        for file in files {
            guard directoryExists(file) == false else {
                throw DataError("CIFAR-10 folder '\(folder)' has no '\((file as NSString).lastPathComponent)'; "
                                + "the \(split) split needs \(cifarFiles(split).joined(separator: ", "))")
            }
            do {
                let batch = try parseCIFARBatch(readWholeFile(file, kind: "dataset file"), name: file,
                                                classCount: classes.count)
                labels += batch.labels
                pixels += batch.pixels
            } catch {
                try bad.handle(error)
            }
        }
        guard !labels.isEmpty else { return nil }
        return Dataset(classes: classes, channels: 3, height: cifarSide, width: cifarSide, labels: labels,
                       pixels: pixels, source: folder, skipped: bad.count)
    }

    /// The labels and pixels of one CIFAR-10 batch file held in memory.
    ///
    /// - Parameters:
    ///   - bytes: the whole file, 3073-byte records.
    ///   - name: what to call the data in error messages, usually its path.
    ///   - classCount: labels must be below this.
    /// - Returns: one label per record and the pixels, `[N, 3, 32, 32]`.
    /// - Throws: `DataError` naming `name` if the data is not a whole number of records or a label is out of range.
    public static func parseCIFARBatch(_ bytes: [UInt8], name file: String,
                                       classCount: Int) throws -> (labels: [Int], pixels: [UInt8]) {
        guard !bytes.isEmpty, bytes.count % cifarRecord == 0 else {
            throw DataError("dataset file '\(file)' is \(bytes.count) bytes, not a whole number of "
                            + "\(cifarRecord)-byte CIFAR-10 records; it is truncated or corrupt, "
                            + "re-download it")
        }
        let records = bytes.count / cifarRecord
        let labels = (0..<records).map { Int(bytes[$0 * cifarRecord]) }
        if let record = labels.firstIndex(where: { $0 >= classCount }) {
            throw DataError("dataset file '\(file)': record \(record) has label \(labels[record]) "
                            + "but there are \(classCount) classes; the file is corrupt, re-download it")
        }
        var pixels: [UInt8] = []  // [N, 3, 32, 32]
        pixels.reserveCapacity(records * (cifarRecord - 1))
        for record in 0..<records {
            pixels += bytes[(record * cifarRecord + 1)..<((record + 1) * cifarRecord)]
        }
        return (labels, pixels)
    }

    /// The non-empty lines of `folder/batches.meta.txt`, or the standard names when there is no such file.
    private static func cifarClasses(_ folder: String) throws -> [String] {
        let meta = joinPath(folder, "batches.meta.txt")
        guard directoryExists(meta) == false else { return cifar10Classes }
        let names = String(decoding: try readWholeFile(meta, kind: "class list"), as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !names.isEmpty, names.count <= 256 else {
            throw DataError("class list '\(meta)' has \(names.count) names; it needs 1 to 256, one per line")
        }
        return names
    }
}
