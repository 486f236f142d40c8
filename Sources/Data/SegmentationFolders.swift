import Foundation

/// Pascal VOC 2012's segmentation layout: `JPEGImages/ID.jpg`, `SegmentationClass/ID.png`
/// (palette PNGs: index = class, 255 = object border, ignored) and the split's IDs in
/// `ImageSets/Segmentation/SPLIT.txt`. 21 classes with the background.
public struct VOCSegmentation: SegmentationDataset {
    public static let classes = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
                                 "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
    public let root: String
    public let ids: [String]
    public var classes: [String] { Self.classes }
    public var channels: Int { 3 }
    public var count: Int { ids.count }

    /// `split`: "train" or "val" (any list in ImageSets/Segmentation). Every listed image and
    /// mask must exist: the first missing one is named.
    public init(root: String, split: String) throws {
        let list = root + "/ImageSets/Segmentation/\(split).txt"
        guard let text = try? String(contentsOfFile: list, encoding: .utf8) else { throw DataError(list, "cannot read the \(split) split's list") }
        ids = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !ids.isEmpty else { throw DataError(list, "lists no images") }
        self.root = root
        for id in ids {
            for path in [imagePath(id), maskPath(id)] where !FileManager.default.fileExists(atPath: path) {
                throw DataError(path, "listed in \(list) but missing")
            }
        }
    }

    func imagePath(_ id: String) -> String { root + "/JPEGImages/\(id).jpg" }
    func maskPath(_ id: String) -> String { root + "/SegmentationClass/\(id).png" }
    public func source(of index: Int) -> String { imagePath(ids[index]) }

    public func sample(at index: Int) throws -> (image: Image, mask: Mask) {
        try loadPair(image: imagePath(ids[index]), mask: maskPath(ids[index]), channels: 3, classes: Self.classes.count) { $0 }
    }
}

/// ADE20K's scene-parsing layout (ADEChallengeData2016): `images/SPLIT/NAME.jpg` and
/// `annotations/SPLIT/NAME.png` (grey PNGs: 0 = unlabelled, ignored; 1-150 the classes, here
/// 0-149). Class names come from `objectInfo150.csv` when the folder has it.
public struct ADE20K: SegmentationDataset {
    public let root: String, split: String
    public let names: [String]
    public let classes: [String]
    public var channels: Int { 3 }
    public var count: Int { names.count }

    /// `split`: "training" or "validation".
    public init(root: String, split: String) throws {
        let folder = root + "/images/\(split)"
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder) else { throw DataError(folder, "cannot list the images") }
        names = files.filter { $0.lowercased().hasSuffix(".jpg") }.map { String($0.dropLast(4)) }.sorted()
        guard !names.isEmpty else { throw DataError(folder, "holds no .jpg images") }
        (self.root, self.split) = (root, split)
        classes = ADE20K.classNames(root + "/objectInfo150.csv") ?? (1...150).map { "class \($0)" }
        for name in names where !FileManager.default.fileExists(atPath: maskPath(name)) {
            throw DataError(maskPath(name), "is missing: every image needs its annotation")
        }
    }

    /// The Name column of objectInfo150.csv (first name of each row), in label order.
    static func classNames(_ path: String) -> [String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let names = text.split(whereSeparator: \.isNewline).dropFirst().compactMap { line -> String? in
            line.split(separator: ",").last.map { $0.split(separator: ";").first.map(String.init) ?? "" }?.trimmingCharacters(in: .whitespaces)
        }
        return names.count == 150 ? names : nil
    }

    func imagePath(_ name: String) -> String { root + "/images/\(split)/\(name).jpg" }
    func maskPath(_ name: String) -> String { root + "/annotations/\(split)/\(name).png" }
    public func source(of index: Int) -> String { imagePath(names[index]) }

    public func sample(at index: Int) throws -> (image: Image, mask: Mask) {
        // 0 (unlabelled) becomes the ignore label; class k (1-150) becomes k - 1.
        try loadPair(image: imagePath(names[index]), mask: maskPath(names[index]), channels: 3, classes: 150) { $0 == 0 ? Mask.ignoreIndex : $0 - 1 }
    }
}

/// An image and its mask, checked: the same size, and every label a class or the ignore label.
func loadPair(image imagePath: String, mask maskPath: String, channels: Int, classes: Int,
              relabel: (UInt8) -> UInt8) throws -> (image: Image, mask: Mask) {
    let image = try ImageCodec.decode(readFile(imagePath), path: imagePath, channels: channels)
    var mask = try ImageCodec.decodeMask(readFile(maskPath), path: maskPath)
    guard (mask.width, mask.height) == (image.width, image.height) else {
        throw DataError(maskPath, "is \(mask.width)x\(mask.height) but its image \(imagePath) is \(image.width)x\(image.height)")
    }
    mask.labels = mask.labels.map(relabel)
    if let bad = mask.labels.first(where: { $0 != Mask.ignoreIndex && Int($0) >= classes }) {
        throw DataError(maskPath, "has label \(bad), outside the \(classes) classes (and not the ignore label 255)")
    }
    return (image, mask)
}
