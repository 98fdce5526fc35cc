import Dispatch
import Foundation

/// An evaluation transform applied to every image of an image folder as it is decoded (torchvision's
/// `Resize(resize)` then `CenterCrop`), so that photos of any size become model inputs.
public struct EvalTransform: Sendable, Equatable {
    public var resize: Int
    public var width: Int
    public var height: Int

    public init(resize: Int, width: Int, height: Int) {
        self.resize = resize
        self.width = width
        self.height = height
    }

    public func apply(_ image: Image) -> Image {
        image.resizedShorterSide(to: resize).centerCropped(width: width, height: height)
    }
}

/// Where an image folder keeps one split: the folder of class folders, all class names, and the image files.
struct ImageFolderLayout {
    /// The folder of class folders for the split.
    let root: String
    let classes: [String]
    /// Every image file of the split, class by class in `classes` order, sorted by name within a class.
    let files: [(path: String, label: Int)]
}

extension Dataset {
    /// The layout of the image folder `path` for `split`; nil if `path` is no image folder.
    static func imageFolderLayout(_ path: String, split: Split) -> ImageFolderLayout? {
        let splitFolders = Split.allCases.map { joinPath(path, $0.rawValue) }.filter { directoryExists($0) == true }
        let root: String
        let classes: [String]
        if splitFolders.isEmpty {
            root = path
            classes = subfolders(path)
        } else {
            root = joinPath(path, split.rawValue)
            classes = Set(splitFolders.flatMap(subfolders)).sorted()
        }
        let files = classes.enumerated().flatMap { label, name in
            imageFiles(joinPath(root, name)).map { (path: $0, label: label) }
        }
        guard !splitFolders.isEmpty || !files.isEmpty else { return nil }
        return ImageFolderLayout(root: root, classes: classes, files: files)
    }

    /// Decodes every file of `layout` in parallel; nil if there is none left after skipping bad files.
    static func loadImageFolder(_ layout: ImageFolderLayout, bad: inout BadFiles,
                                transform: EvalTransform? = nil) throws -> Dataset? {
        let read: @Sendable (String) throws -> Image = { path in
            let image = try readImage(path)
            return transform?.apply(image) ?? image
        }
        let files = layout.files
        // The first file that decodes sets the size every other image must have.
        var reference: (index: Int, image: Image)?
        for (index, file) in files.enumerated() {
            do {
                reference = (index, try read(file.path))
                break
            } catch {
                try bad.handle(error)
            }
        }
        guard let reference else { return nil }
        let (height, width) = (reference.image.height, reference.image.width)
        let size = 3 * height * width
        let rest = Array(files[reference.index...])  // rest[0] is the reference
        var pixels = [UInt8](repeating: 0, count: rest.count * size)  // [rest.count, 3, H, W]
        var outcomes = [Outcome](repeating: .gray, count: rest.count)
        pixels.withUnsafeMutableBufferPointer { pixelSlots in
            outcomes.withUnsafeMutableBufferPointer { outcomeSlots in
                let slots = Slots(pixels: pixelSlots, outcomes: outcomeSlots)
                slots.outcomes[0] = store(reference.image, at: 0, size: size, in: slots.pixels)
                DispatchQueue.concurrentPerform(iterations: rest.count - 1) { k in
                    let index = k + 1
                    let path = rest[index].path
                    do {
                        let image = try read(path)
                        guard image.width == width, image.height == height else {
                            throw DataError("image '\(path)' is \(image.width)x\(image.height) pixels but "
                                            + "'\(rest[0].path)' is \(width)x\(height); all images of a dataset "
                                            + "must have one size, resize or remove it")
                        }
                        slots.outcomes[index] = store(image, at: index, size: size, in: slots.pixels)
                    } catch {
                        slots.outcomes[index] = .bad(error)
                    }
                }
            }
        }
        // Drop the bad slots in file order, so the error (or the first one skipped) is the same on every run.
        var kept = 0
        var labels: [Int] = []
        var allGray = true
        for (index, outcome) in outcomes.enumerated() {
            if case .bad(let error) = outcome {
                try bad.handle(error)
                continue
            }
            if kept != index {
                pixels.withUnsafeMutableBufferPointer { all in
                    let from = UnsafeMutableBufferPointer(rebasing: all[(index * size)..<((index + 1) * size)])
                    _ = UnsafeMutableBufferPointer(rebasing: all[(kept * size)...]).update(fromContentsOf: from)
                }
            }
            if case .colour = outcome { allGray = false }
            labels.append(rest[index].label)
            kept += 1
        }
        pixels.removeSubrange((kept * size)...)
        if allGray {
            let plane = height * width
            pixels = (0..<kept).flatMap { pixels[($0 * size)..<($0 * size + plane)] }  // [N, 1, H, W]: the R plane
        }
        return Dataset(classes: layout.classes, channels: allGray ? 1 : 3, height: height, width: width,
                       labels: labels, pixels: pixels, source: layout.root, skipped: bad.count)
    }

    /// What became of one file.
    private enum Outcome: Sendable {
        case gray, colour, bad(Error)
    }

    /// The two result buffers, shared by the decoding threads; each thread writes only its own index.
    private struct Slots: @unchecked Sendable {
        let pixels: UnsafeMutableBufferPointer<UInt8>
        let outcomes: UnsafeMutableBufferPointer<Outcome>
    }

    /// Writes `image` as planar RGB bytes (alpha composited over black) into slot `index` of `pixels`, and says
    /// whether it is gray.
    private static func store(_ image: Image, at index: Int, size: Int,
                              in pixels: UnsafeMutableBufferPointer<UInt8>) -> Outcome {
        let plane = size / 3
        let slot = UnsafeMutableBufferPointer(rebasing: pixels[(index * size)..<((index + 1) * size)])  // [3, H, W]
        image.rgba.withUnsafeBufferPointer { rgba in  // [H, W, 4]
            if (0..<plane).allSatisfy({ rgba[$0 * 4 + 3] == 255 }) {
                for pixel in 0..<plane {
                    for channel in 0..<3 { slot[channel * plane + pixel] = rgba[pixel * 4 + channel] }
                }
            } else {
                // planarRGB composites over black and gives exactly byte / 255.
                for (k, value) in image.planarRGB().enumerated() { slot[k] = UInt8(value * 255 + 0.5) }
            }
        }
        let gray = (0..<plane).allSatisfy { slot[$0] == slot[plane + $0] && slot[$0] == slot[2 * plane + $0] }
        return gray ? .gray : .colour
    }

    /// The names of the visible folders inside `path`, sorted.
    private static func subfolders(_ path: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") && directoryExists(joinPath(path, $0)) == true }.sorted()
    }

    /// The paths of the visible .png, .jpg and .jpeg files directly inside `path`, sorted by name.
    private static func imageFiles(_ path: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { name in
            let suffix = name.lowercased().split(separator: ".").last
            return !name.hasPrefix(".") && ["png", "jpg", "jpeg"].contains(suffix)
        }.sorted().map { joinPath(path, $0) }
    }
}
