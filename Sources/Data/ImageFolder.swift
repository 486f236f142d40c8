import Foundation
import Synchronization

/// One subfolder per class (class names sorted), JPEG and PNG files inside, any size, grey or
/// colour; other files are ignored. Images decode on demand to `channels` (3: RGB, grey images
/// repeated; 1: grey, colour converted). Where the folder's images, all at the size of the
/// first decoded, fit in `cacheBytes` (a small-image data set: CIFAR-10's 50,000 take 154 MB),
/// each image is decoded once and kept in memory as bytes, not decoded again every epoch; the
/// budget is per folder and per process (a training and a validation folder: up to 2 GiB).
public struct ImageFolder: Dataset {
    public let root: String
    public let classes: [String]
    public let channels: Int
    /// Decode JPEGs at reduced scale down to this shorter side (see `ImageCodec.decode`).
    public let minShortSide: Int?
    let files: [String]
    let labels: [Int]
    let decoded: DecodedImages
    static let extensions: Set<String> = ["jpg", "jpeg", "png"]
    /// 1 GiB: CIFAR-10 and -100, and folders of small images like them, are decoded once.
    public static let defaultCacheBytes = 1 << 30

    public init(root: String, channels: Int = 3, minShortSide: Int? = nil, cacheBytes: Int = ImageFolder.defaultCacheBytes) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else { throw DataError(root, "no such folder") }
        guard isDirectory.boolValue else { throw DataError(root, "is a file, not a folder of class folders") }
        let fm = FileManager.default
        let classes = try fm.contentsOfDirectory(atPath: root).filter { name in
            var dir: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: root + "/" + name, isDirectory: &dir) && dir.boolValue
        }.sorted()
        // A bad file (empty, truncated, not an image) is found when it is read: the loader
        // reports it once and skips it, or stops there with --strict.
        var files: [String] = [], labels: [Int] = []
        for (label, name) in classes.enumerated() {
            let folder = root + "/" + name
            guard let enumerator = fm.enumerator(atPath: folder) else { continue }
            var found: [String] = []
            for case let relative as String in enumerator where ImageFolder.extensions.contains((relative as NSString).pathExtension.lowercased()) {
                found.append(folder + "/" + relative)
            }
            files += found.sorted()
            labels += Array(repeating: label, count: found.count)
        }
        guard !classes.isEmpty else { throw DataError(root, "has no class subfolders (expected one folder per class)") }
        guard classes.count >= 2 else { throw DataError(root, "has only one class folder (\(classes[0])); classification needs at least two") }
        guard !files.isEmpty else { throw DataError(root, "the class folders hold no .jpg, .jpeg or .png files") }
        (self.root, self.classes, self.channels, self.minShortSide) = (root, classes, channels, minShortSide)
        (self.files, self.labels) = (files, labels)
        decoded = DecodedImages(count: files.count, budget: cacheBytes)
    }

    public var count: Int { files.count }
    public func label(at index: Int) -> Int { labels[index] }
    public func source(of index: Int) -> String { files[index] }

    public func image(at index: Int) throws -> Image {
        if let image = decoded.image(at: index) { return image }
        let path = files[index]
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot read file") }
        guard !data.isEmpty else { throw DataError(path, "empty file") }
        let image = try ImageCodec.decode(Array(data), path: path, channels: channels, minShortSide: minShortSide)
        decoded.keep(image, at: index)
        return image
    }

    /// How many images are held decoded in memory.
    public var decodedCount: Int { decoded.count }
}

/// Decoded images as bytes (a quarter of `Image`'s Float32 pixels; decoding gives whole values
/// in [0, 255], so nothing is lost), shared by every copy of the folder and its loader's
/// workers. Whether to keep any is decided at the first image decoded: only if the folder's
/// images at that image's size fit in the budget, which also caps what is kept, so a folder of
/// images larger than that one is never held past the budget (the rest decode every time).
/// Only speed and memory depend on that decision, never the pixels.
final class DecodedImages: Sendable {
    private struct State {
        var images: [Int: (width: Int, height: Int, channels: Int, bytes: [UInt8])] = [:]
        var bytes = 0
        var keeping: Bool?
    }
    private let state = Mutex(State())
    private let imageCount: Int, budget: Int

    init(count: Int, budget: Int) { (imageCount, self.budget) = (count, budget) }

    var count: Int { state.withLock { $0.images.count } }

    func image(at index: Int) -> Image? {
        guard let kept = state.withLock({ $0.images[index] }) else { return nil }
        return Image(width: kept.width, height: kept.height, channels: kept.channels, bytes: kept.bytes)
    }

    func keep(_ image: Image, at index: Int) {
        let size = image.pixels.count
        let keeping = state.withLock { state in
            if state.keeping == nil { state.keeping = size * imageCount <= budget }
            return state.keeping! && state.bytes + size <= budget
        }
        guard keeping else { return }
        let bytes = image.bytes
        state.withLock { state in
            guard state.images[index] == nil, state.bytes + size <= budget else { return }
            state.images[index] = (image.width, image.height, image.channels, bytes)
            state.bytes += size
        }
    }
}
