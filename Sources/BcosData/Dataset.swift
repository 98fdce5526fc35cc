import Foundation

/// A labelled image dataset for one split, decoded into memory as 8-bit planar pixels.
///
/// `Dataset.load` reads CIFAR-10 binary batches, IDX files (MNIST, Fashion-MNIST) or an image folder; models read
/// images as floats in [0, 1] through `image(_:)` and `batch(_:)` (the values of torchvision's `ToTensor`).
public struct Dataset: Sendable {
    /// Which part of a dataset to load.
    public enum Split: String, Sendable, CaseIterable {
        /// The training images.
        case train
        /// The held-out images.
        case test
    }

    /// Class names; label `l` is `classes[l]`.
    public let classes: [String]
    /// Channels per image: 1 (grayscale) or 3 (RGB).
    public let channels: Int
    /// Image height in pixels.
    public let height: Int
    /// Image width in pixels.
    public let width: Int
    /// The label of each image, `[count]`, each in `0..<classes.count`.
    public let labels: [Int]
    /// All images, `[count, channels, height, width]` bytes, planar (all of R, then G, then B).
    public let pixels: [UInt8]
    /// The folder the images were read from.
    public let source: String
    /// How many files were skipped as unreadable, corrupt or of the wrong size (only with `skipBad`).
    public let skipped: Int

    /// Number of images.
    public var count: Int { labels.count }

    /// Creates a dataset from decoded pixels.
    ///
    /// - Parameters:
    ///   - classes: class names, at least one.
    ///   - channels: 1 or 3.
    ///   - height: image height, >= 1.
    ///   - width: image width, >= 1.
    ///   - labels: `[N]` labels in `0..<classes.count`.
    ///   - pixels: `[N, channels, height, width]` bytes.
    ///   - source: where the data came from, for messages.
    ///   - skipped: files skipped while loading.
    public init(classes: [String], channels: Int, height: Int, width: Int, labels: [Int], pixels: [UInt8],
                source: String, skipped: Int = 0) {
        precondition(!classes.isEmpty, "Dataset needs at least one class")
        precondition(channels == 1 || channels == 3, "Dataset channels must be 1 or 3, got \(channels)")
        precondition(height > 0 && width > 0, "Dataset image size \(width)x\(height) must be at least 1x1")
        precondition(pixels.count == labels.count * channels * height * width,
                     "Dataset [\(labels.count), \(channels), \(height), \(width)] needs "
                     + "\(labels.count * channels * height * width) pixel bytes, got \(pixels.count)")
        precondition(labels.allSatisfy { classes.indices.contains($0) },
                     "Dataset labels must lie in 0..<\(classes.count)")
        self.classes = classes
        self.channels = channels
        self.height = height
        self.width = width
        self.labels = labels
        self.pixels = pixels
        self.source = source
        self.skipped = skipped
    }

    /// One image as floats.
    ///
    /// - Parameter index: in `0..<count`.
    /// - Returns: `[channels, height, width]` values in [0, 1] (byte / 255).
    public func image(_ index: Int) -> [Float] {
        batch([index]).images
    }

    /// Several images and their labels, in the order of `indices`.
    ///
    /// - Parameter indices: `[B]` image indices in `0..<count`; repeats allowed.
    /// - Returns: `images` `[B, channels, height, width]` in [0, 1] (byte / 255), and `labels` `[B]`.
    public func batch(_ indices: [Int]) -> (images: [Float], labels: [Int]) {
        let size = channels * height * width
        var images = [Float](repeating: 0, count: indices.count * size)  // [B, C, H, W]
        pixels.withUnsafeBufferPointer { source in
            images.withUnsafeMutableBufferPointer { out in
                for (row, index) in indices.enumerated() {
                    precondition(index >= 0 && index < count, "Dataset index \(index) out of range 0..<\(count)")
                    for k in 0..<size { out[row * size + k] = Self.unit[Int(source[index * size + k])] }
                }
            }
        }
        return (images, indices.map { labels[$0] })
    }

    /// byte / 255 for every byte value.
    private static let unit: [Float] = (0..<256).map { Float($0) / 255 }

    /// Loads one split of the dataset in the folder `path`, detecting its format.
    ///
    /// Formats, tried in this order:
    /// 1. CIFAR-10 binary: `data_batch_1.bin` ... `data_batch_5.bin` (train) and `test_batch.bin` (test), in `path`
    ///    or in `path/cifar-10-batches-bin`; records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32).
    ///    Class names from `batches.meta.txt` (one per line) when present, else the standard CIFAR-10 names.
    ///    Always 3 channels.
    /// 2. IDX (MNIST, Fashion-MNIST): `train-images-idx3-ubyte` + `train-labels-idx1-ubyte` (train) and `t10k-...`
    ///    (test), each optionally gzip-compressed (`.gz`; detected by content) and also accepted with a `.` before
    ///    `idx`. Class names: the Fashion-MNIST names if the folder's name contains "fashion" (any case), else the
    ///    digits "0", "1", ... up to the largest label (at least "9"). Always 1 channel.
    /// 3. Image folder: `path/train/<class>/*` and `path/test/<class>/*`, or, with neither `train` nor `test`
    ///    present, `path/<class>/*` for both splits. Files ending in .png, .jpg or .jpeg (any case) directly inside
    ///    a class folder, sorted by name, decoded by content; other files and deeper folders are ignored. Classes
    ///    are the sorted names of the class folders (with train/test: of both, so labels agree between splits).
    ///    All images must have the size of the first one that decodes. Channels are 1 if every image has R = G = B
    ///    everywhere (after compositing alpha over black), else 3. Files are decoded in parallel.
    ///
    /// - Parameters:
    ///   - path: the dataset folder.
    ///   - split: which split to load.
    ///   - skipBad: skip unreadable, corrupt or wrongly sized files (counted in `skipped`) instead of failing.
    /// - Returns: the split with its images in file order (CIFAR, IDX: record order; image folder: class, then name).
    /// - Throws: `DataError` naming the file at fault if a file is unreadable, corrupt or of the wrong size (unless
    ///   `skipBad`), and naming `path` and the expected layout if no format matches or the split has no images.
    ///   - transform: for image folders, resize and crop every image as it is decoded (ImageNet models).
    public static func load(_ path: String, split: Split, skipBad: Bool = false,
                            transform: EvalTransform? = nil) throws -> Dataset {
        guard let isFolder = directoryExists(path) else {
            throw DataError("dataset folder '\(path)' not found; check the path")
        }
        guard isFolder else {
            throw DataError("dataset '\(path)' is a file; give the folder that holds it (\(layouts))")
        }
        var bad = BadFiles(skip: skipBad)
        let dataset: Dataset?
        if let folder = cifarFolder(path) {
            dataset = try loadCIFAR(folder, split: split, bad: &bad)
        } else if isIDXFolder(path) {
            dataset = try loadIDX(path, split: split, bad: &bad)
        } else if let layout = imageFolderLayout(path, split: split) {
            dataset = try loadImageFolder(layout, bad: &bad, transform: transform)
        } else {
            throw DataError("no dataset found in '\(path)'; expected \(layouts)")
        }
        guard let dataset else {
            throw DataError("no images for the \(split) split in '\(path)'\(bad.summary); expected \(layouts)")
        }
        return dataset
    }

    /// The layouts `load` understands, for messages.
    static let layouts = "CIFAR-10 binary (data_batch_1.bin ... data_batch_5.bin and test_batch.bin, perhaps in "
        + "cifar-10-batches-bin/), IDX (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
        + "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) or an image folder "
        + "(train/<class>/*.png|jpg and test/<class>/*.png|jpg, or <class>/*.png|jpg)"
}

/// The bad files met while loading: with `skip`, counted and remembered; without, thrown.
struct BadFiles {
    let skip: Bool
    private(set) var count = 0
    private(set) var first: DataError?

    init(skip: Bool) {
        self.skip = skip
    }

    /// Throws `error` unless skipping, in which case counts it.
    mutating func handle(_ error: Error) throws {
        guard skip, let error = error as? DataError else { throw error }
        count += 1
        if first == nil { first = error }
    }

    /// " (N bad files skipped, the first: ...)", or "" when none were.
    var summary: String {
        guard let first else { return "" }
        return " (\(count) bad file\(count == 1 ? "" : "s") skipped; the first: \(first.message))"
    }
}

/// Whether `path` is a folder (true), a file (false) or absent (nil).
func directoryExists(_ path: String) -> Bool? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
    return isDirectory.boolValue
}

/// `folder/name` as a path string.
func joinPath(_ folder: String, _ name: String) -> String {
    folder.hasSuffix("/") ? folder + name : folder + "/" + name
}

extension Dataset {
    /// The first `n` images (all of them if there are fewer).
    public func prefix(_ n: Int) -> Dataset {
        let k = min(n, count), per = channels * height * width
        return Dataset(classes: classes, channels: channels, height: height, width: width,
                       labels: Array(labels.prefix(k)), pixels: Array(pixels.prefix(k * per)),
                       source: source, skipped: skipped)
    }
}
