import BcosData
import Foundation
import XCTest

/// Every dataset here is built byte by byte in a temporary folder, so the expected pixels and labels are known
/// exactly. The tests at the end read real data: Fashion-MNIST whenever its Debian package is installed (always in
/// CI), CIFAR-10 when `BCOS_CIFAR10_DIR` names an extracted copy.
final class DatasetTests: ScratchTestCase {
    // MARK: CIFAR-10 binary

    /// Records with the given labels and pixel bytes (seed + record * 7 + k) % 256; returns the file bytes and
    /// the pixels alone, `[N, 3, 32, 32]`.
    private func cifarBatch(_ labels: [UInt8], seed: Int) -> (file: [UInt8], pixels: [UInt8]) {
        var file: [UInt8] = [], pixels: [UInt8] = []
        for (record, label) in labels.enumerated() {
            let image = (0..<3072).map { UInt8((seed + record * 7 + $0) % 256) }
            file += [label] + image
            pixels += image
        }
        return (file, pixels)
    }

    /// Writes data_batch_1..5.bin (2 records each) and test_batch.bin (3 records) into `folder`; returns the
    /// expected train and test labels and pixels.
    private func writeCIFAR(in folder: String) throws -> (train: ([Int], [UInt8]), test: ([Int], [UInt8])) {
        var trainLabels: [Int] = [], trainPixels: [UInt8] = []
        for batch in 1...5 {
            let labels = [UInt8(batch), UInt8(9 - batch)]
            let (file, pixels) = cifarBatch(labels, seed: batch * 100)
            try writeFile(file, to: "\(folder)/data_batch_\(batch).bin")
            trainLabels += labels.map(Int.init)
            trainPixels += pixels
        }
        let (file, pixels) = cifarBatch([3, 0, 9], seed: 7)
        try writeFile(file, to: "\(folder)/test_batch.bin")
        return ((trainLabels, trainPixels), ([3, 0, 9], pixels))
    }

    func testCIFARBinaryFromTheBatchFolderOrItsParent() throws {
        let parent = try scratch("cifar")
        let folder = parent + "/cifar-10-batches-bin"
        let expected = try writeCIFAR(in: folder)

        let train = try Dataset.load(parent, split: .train)
        XCTAssertEqual(train.classes, Dataset.cifar10Classes)
        XCTAssertEqual([train.count, train.channels, train.height, train.width, train.skipped], [10, 3, 32, 32, 0])
        XCTAssertEqual(train.labels, expected.train.0)
        XCTAssertEqual(train.pixels, expected.train.1)
        XCTAssertEqual(train.source, folder)

        let test = try Dataset.load(folder, split: .test)
        XCTAssertEqual(test.labels, expected.test.0)
        XCTAssertEqual(test.pixels, expected.test.1)
        XCTAssertEqual(test.image(1), expected.test.1[3072..<6144].map { Float($0) / 255 })
        let batch = test.batch([2, 0, 2])
        XCTAssertEqual(batch.labels, [9, 3, 9])
        let image2 = expected.test.1[6144...].map { Float($0) / 255 }
        XCTAssertEqual(batch.images, image2 + expected.test.1[..<3072].map { Float($0) / 255 } + image2)
    }

    func testCIFARClassNamesFromMetaFile() throws {
        let folder = try scratch("cifar")
        _ = try writeCIFAR(in: folder)
        try writeFile(Array("cat\n dog \n\n".utf8), to: folder + "/batches.meta.txt")
        // The test batch has labels 3, 0, 9: with two classes, label 3 is out of range.
        assertDataError(try Dataset.load(folder, split: .test), "'\(folder)/test_batch.bin'",
                        "record 0 has label 3 but there are 2 classes")
        try writeFile(cifarBatch([1, 0], seed: 1).file, to: folder + "/test_batch.bin")
        XCTAssertEqual(try Dataset.load(folder, split: .test).classes, ["cat", "dog"])
    }

    func testCIFARTruncatedAndMissingBatches() throws {
        let folder = try scratch("cifar")
        let expected = try writeCIFAR(in: folder)
        let third = folder + "/data_batch_3.bin"
        try writeFile(Array(try readFile(third).dropLast()), to: third)

        assertDataError(try Dataset.load(folder, split: .train), "'\(third)'", "is 6145 bytes",
                        "not a whole number of 3073-byte CIFAR-10 records")
        let skipping = try Dataset.load(folder, split: .train, skipBad: true)
        XCTAssertEqual(skipping.skipped, 1)
        XCTAssertEqual(skipping.labels, Array(expected.train.0[0..<4] + expected.train.0[6...]))
        XCTAssertEqual(skipping.pixels, Array(expected.train.1[0..<(4 * 3072)] + expected.train.1[(6 * 3072)...]))

        let test = folder + "/test_batch.bin"
        try writeFile([], to: test)
        assertDataError(try Dataset.load(folder, split: .test, skipBad: true),
                        "no images for the test split in '\(folder)'", "1 bad file skipped", "'\(test)' is 0 bytes")

        try FileManager.default.removeItem(atPath: folder + "/data_batch_4.bin")
        assertDataError(try Dataset.load(folder, split: .train, skipBad: true),
                        "'\(folder)' has no 'data_batch_4.bin'", "data_batch_1.bin, data_batch_2.bin")
    }

    // MARK: IDX

    private func idx(images: [UInt8], count: Int, rows: Int, columns: Int, magic: UInt32 = 0x803) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(columns)) + images
    }

    private func idx(labels: [UInt8], magic: UInt32 = 0x801) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(labels.count)) + labels
    }

    private func bigEndian(_ value: UInt32) -> [UInt8] {
        [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
    }

    /// Train: 3 images of 2x4, gzip'd; test: 2 images, not compressed.
    private func writeIDX(in folder: String) throws -> (train: [UInt8], test: [UInt8]) {
        let train = (0..<24).map { UInt8($0 * 10) }, test = (0..<16).map { UInt8(255 - $0) }
        try writeFile(gzip(idx(images: train, count: 3, rows: 2, columns: 4)),
                      to: folder + "/train-images-idx3-ubyte.gz")
        try writeFile(gzip(idx(labels: [7, 0, 9])), to: folder + "/train-labels-idx1-ubyte.gz")
        try writeFile(idx(images: test, count: 2, rows: 2, columns: 4), to: folder + "/t10k-images-idx3-ubyte")
        try writeFile(idx(labels: [1, 8]), to: folder + "/t10k-labels-idx1-ubyte")
        return (train, test)
    }

    func testIDXGzipAndPlain() throws {
        let folder = try scratch("Fashion-tiny")
        let expected = try writeIDX(in: folder)

        let train = try Dataset.load(folder, split: .train)
        XCTAssertEqual(train.classes, Dataset.fashionMNISTClasses)
        XCTAssertEqual([train.count, train.channels, train.height, train.width, train.skipped], [3, 1, 2, 4, 0])
        XCTAssertEqual(train.labels, [7, 0, 9])
        XCTAssertEqual(train.pixels, expected.train)
        XCTAssertEqual(train.image(2), expected.train[16...].map { Float($0) / 255 })

        let test = try Dataset.load(folder, split: .test)
        XCTAssertEqual(test.labels, [1, 8])
        XCTAssertEqual(test.pixels, expected.test)

        let digits = try scratch("mnist")
        try writeFile(idx(images: [1, 2], count: 2, rows: 1, columns: 1), to: digits + "/t10k-images.idx3-ubyte")
        try writeFile(idx(labels: [0, 11]), to: digits + "/t10k-labels.idx1-ubyte")
        XCTAssertEqual(try Dataset.load(digits, split: .test).classes, (0...11).map(String.init))
        assertDataError(try Dataset.load(digits, split: .train), "'\(digits)' lacks a file of the train split",
                        "train-images-idx3-ubyte[.gz]")
    }

    func testIDXBadFiles() throws {
        let folder = try scratch("idx")
        _ = try writeIDX(in: folder)
        let images = folder + "/t10k-images-idx3-ubyte", labels = folder + "/t10k-labels-idx1-ubyte"

        try writeFile(idx(labels: [1, 8]), to: images)
        assertDataError(try Dataset.load(folder, split: .test), "'\(images)'",
                        "magic number is 0x00000801, expected 0x00000803")

        // The header promises 5 images of 2x4 = 40 bytes; the file holds 16.
        try writeFile(idx(images: Array(repeating: 1, count: 16), count: 5, rows: 2, columns: 4), to: images)
        assertDataError(try Dataset.load(folder, split: .test), "'\(images)'", "holds 16 data bytes",
                        "promises 5x2x4 = 40")
        try writeFile(idx(images: [], count: 0x7FFF_FFFF, rows: 0xFFFF_FFFF, columns: 0xFFFF_FFFF), to: images)
        assertDataError(try Dataset.load(folder, split: .test), "'\(images)'", "claims images of 4294967295x")

        try writeFile(idx(images: Array(repeating: 1, count: 24), count: 3, rows: 2, columns: 4), to: images)
        assertDataError(try Dataset.load(folder, split: .test), "'\(labels)' has 2 labels but '\(images)' has 3")

        let trainLabels = folder + "/train-labels-idx1-ubyte.gz"
        var packed = try readFile(trainLabels)
        packed[10] = 0xFF  // the first deflate block header: final block of the reserved type 3
        try writeFile(packed, to: trainLabels)
        assertDataError(try Dataset.load(folder, split: .train), "'\(trainLabels)'", "invalid block type")
        assertDataError(try Dataset.load(folder, split: .train, skipBad: true), "no images for the train split",
                        "1 bad file skipped", "'\(trainLabels)'")
    }

    // MARK: image folders

    /// A `width` x 3 colour image whose pixel (x, y) is (seed + x, 10 * y, 200 - x), alpha 255 except where noted.
    private func colourImage(seed: Int, width: Int = 5, transparentAt: Int? = nil) -> Image {
        var rgba: [UInt8] = []
        for y in 0..<3 {
            for x in 0..<width {
                rgba += [UInt8(seed + x), UInt8(10 * y), UInt8(200 - x), y * width + x == transparentAt ? 0 : 255]
            }
        }
        return Image(width: width, height: 3, rgba: rgba)
    }

    /// The image as the dataset stores it: planar R, G, B after compositing over black.
    private func planar(_ image: Image) -> [UInt8] {
        image.planarRGB().map { UInt8(($0 * 255).rounded()) }
    }

    func testImageFolderWithSplitsIsSortedAndPlanar() throws {
        let root = try scratch("pets")
        let images = (0..<4).map { colourImage(seed: $0 * 20, transparentAt: $0 == 1 ? 2 : nil) }
        try FileManager.default.createDirectory(atPath: root + "/train/cat", withIntermediateDirectories: true)
        try PNG.write(images[0], to: root + "/train/cat/b.png")
        try PNG.write(images[1], to: root + "/train/cat/a.PNG")
        try PNG.write(images[2], to: root + "/train/cat/.hidden.png")
        try writeFile(Array("not an image".utf8), to: root + "/train/cat/notes.txt")
        try FileManager.default.createDirectory(atPath: root + "/train/dog", withIntermediateDirectories: true)
        try PNG.write(images[2], to: root + "/train/dog/z.png")
        try FileManager.default.createDirectory(atPath: root + "/test/emu", withIntermediateDirectories: true)
        try PNG.write(images[3], to: root + "/test/emu/1.png")

        let train = try Dataset.load(root, split: .train)
        XCTAssertEqual(train.classes, ["cat", "dog", "emu"], "classes of both splits, so labels agree")
        XCTAssertEqual([train.count, train.channels, train.height, train.width, train.skipped], [3, 3, 3, 5, 0])
        XCTAssertEqual(train.labels, [0, 0, 1])
        XCTAssertEqual(train.pixels, planar(images[1]) + planar(images[0]) + planar(images[2]))
        XCTAssertEqual(train.pixels[2], 0, "colour under alpha 0 is composited over black")
        XCTAssertEqual(train.source, root + "/train")

        let test = try Dataset.load(root, split: .test)
        XCTAssertEqual(test.labels, [2])
        XCTAssertEqual(test.pixels, planar(images[3]))
    }

    func testFlatImageFolderOfGrayImagesHasOneChannel() throws {
        let root = try scratch("digits")
        let grays = (0..<3).map { seed in
            Image(width: 4, height: 2, rgb: (0..<8).flatMap { Array(repeating: UInt8(seed * 50 + $0), count: 3) })
        }
        for (index, image) in grays.enumerated() {
            try FileManager.default.createDirectory(atPath: root + "/\(index % 2)", withIntermediateDirectories: true)
            try PNG.write(image, to: root + "/\(index % 2)/\(index).png")
        }
        for split in Dataset.Split.allCases {
            let dataset = try Dataset.load(root, split: split)
            XCTAssertEqual(dataset.classes, ["0", "1"])
            XCTAssertEqual([dataset.count, dataset.channels, dataset.height, dataset.width], [3, 1, 2, 4])
            XCTAssertEqual(dataset.labels, [0, 0, 1])
            XCTAssertEqual(dataset.pixels, [0, 2, 1].flatMap { seed in (0..<8).map { UInt8(seed * 50 + $0) } })
        }
    }

    func testImageFolderDecodesJPEGs() throws {
        struct Expected: Decodable {
            let rgb: [UInt8]
        }
        let root = try scratch("mixed")
        try writeFile(readFile(Fixtures.path("rgb.jpg")), to: root + "/a/photo.jpg")
        try writeFile(readFile(Fixtures.path("gray.jpg")), to: root + "/b/scan.JPEG")
        let drawing = colourImage(seed: 9, width: 13)
        try PNG.write(Image(width: 13, height: 9, rgba: Array((0..<3).map { _ in drawing.rgba }.joined())),
                      to: root + "/b/drawing.png")

        let dataset = try Dataset.load(root, split: .train)
        XCTAssertEqual([dataset.count, dataset.channels, dataset.height, dataset.width], [3, 3, 9, 13])
        XCTAssertEqual(dataset.labels, [0, 1, 1])
        let table = try Fixtures.json("jpeg_expected.json", as: [String: Expected].self)
        for (slot, name) in [(0, "rgb.jpg"), (2, "gray.jpg")] {
            let rgb = try XCTUnwrap(table[name]).rgb  // [9, 13, 3]
            let expected = (0..<3).flatMap { channel in (0..<117).map { rgb[$0 * 3 + channel] } }  // [3, 9, 13]
            let stored = dataset.pixels[(slot * 351)..<((slot + 1) * 351)]
            XCTAssertLessThanOrEqual(zip(stored, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0, 2, name)
        }
    }

    func testImageFolderBadFiles() throws {
        let root = try scratch("bad")
        try FileManager.default.createDirectory(atPath: root + "/train/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/train/b", withIntermediateDirectories: true)
        try writeFile(Array("GIF89a".utf8), to: root + "/train/a/0.png")
        try PNG.write(colourImage(seed: 1), to: root + "/train/a/1.png")
        try PNG.write(colourImage(seed: 2, width: 4), to: root + "/train/a/2.png")
        try writeFile(Array(try readFile(Fixtures.path("rgb.jpg")).prefix(300)), to: root + "/train/b/3.jpg")
        try PNG.write(colourImage(seed: 4), to: root + "/train/b/4.png")

        assertDataError(try Dataset.load(root, split: .train), "'\(root)/train/a/0.png'", "neither PNG nor JPEG")
        try FileManager.default.removeItem(atPath: root + "/train/a/0.png")
        assertDataError(try Dataset.load(root, split: .train), "'\(root)/train/a/2.png' is 4x3 pixels",
                        "'\(root)/train/a/1.png' is 5x3")
        try FileManager.default.moveItem(atPath: root + "/train/a/2.png", toPath: root + "/train/b/5.png")
        assertDataError(try Dataset.load(root, split: .train), "'\(root)/train/b/3.jpg'", "truncated or corrupt")

        try writeFile(Array("GIF89a".utf8), to: root + "/train/a/0.png")
        let dataset = try Dataset.load(root, split: .train, skipBad: true)
        XCTAssertEqual(dataset.skipped, 3)
        XCTAssertEqual(dataset.labels, [0, 1])
        XCTAssertEqual(dataset.pixels, planar(colourImage(seed: 1)) + planar(colourImage(seed: 4)))

        assertDataError(try Dataset.load(root, split: .test), "no images for the test split in '\(root)'",
                        "train/<class>/*.png|jpg")
    }

    func testUnknownLayoutsAndMissingPaths() throws {
        let empty = try scratch("empty")
        try FileManager.default.createDirectory(atPath: empty + "/just-a-folder", withIntermediateDirectories: true)
        assertDataError(try Dataset.load(empty, split: .train), "no dataset found in '\(empty)'", "CIFAR-10 binary",
                        "IDX", "image folder")
        let missing = try scratch("nowhere")
        assertDataError(try Dataset.load(missing, split: .train), "'\(missing)' not found")
        let file = try scratch("file.bin")
        try writeFile([1], to: file)
        assertDataError(try Dataset.load(file, split: .train), "'\(file)' is a file")
    }

    // MARK: real data, opt-in

    /// The Debian package dataset-fashion-mnist (the README's set-up command installs it). Skipped when it is
    /// not installed, except in CI (`CI=true`), which installs it: there a missing package is a failure.
    func testRealFashionMNIST() throws {
        let folder = "/usr/share/datasets/fashion-mnist"
        let installed = FileManager.default.fileExists(atPath: folder + "/t10k-labels-idx1-ubyte.gz")
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTAssertTrue(installed, "CI installs dataset-fashion-mnist; \(folder) is missing")
        }
        try XCTSkipUnless(installed, "apt-get install dataset-fashion-mnist")
        try assertRealDataset(folder, counts: [60000, 10000], channels: 1, side: 28,
                              classes: Dataset.fashionMNISTClasses)
    }

    /// `BCOS_CIFAR10_DIR=<folder with train/ and test/>`: the CIFAR-10 JPEG tree of
    /// ../shared/datasets/cifar10-jpeg.tar.gz, extracted (e.g. into the git-ignored data/cifar10).
    func testRealCIFAR10JPEGFolder() throws {
        guard let folder = ProcessInfo.processInfo.environment["BCOS_CIFAR10_DIR"] else {
            throw XCTSkip("set BCOS_CIFAR10_DIR")
        }
        try assertRealDataset(folder, counts: [50000, 10000], channels: 3, side: 32,
                              classes: Dataset.cifar10Classes)
    }

    /// Loads both splits of a real dataset, prints the time, checks the sizes and that the classes are balanced.
    private func assertRealDataset(_ folder: String, counts: [Int], channels: Int, side: Int,
                                   classes: [String]) throws {
        for (split, count) in zip(Dataset.Split.allCases, counts) {
            let start = Date()
            let dataset = try Dataset.load(folder, split: split)
            print("\(folder) \(split): \(dataset.count) images in \(Date().timeIntervalSince(start)) s")
            XCTAssertEqual([dataset.count, dataset.channels, dataset.height, dataset.width],
                           [count, channels, side, side])
            XCTAssertEqual(dataset.classes, classes)
            XCTAssertEqual(dataset.labels.filter { $0 == classes.count - 1 }.count, count / classes.count)
        }
    }
}
