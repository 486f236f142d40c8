import Foundation

/// A class label per pixel, row by row; `ignoreIndex` (255) marks pixels that count for no
/// class (Pascal VOC's object borders, padding added by augmentation).
public struct Mask: Sendable, Equatable {
    public static let ignoreIndex: UInt8 = 255
    public var width: Int
    public var height: Int
    public var labels: [UInt8]

    public init(width: Int, height: Int, labels: [UInt8]) {
        precondition(labels.count == width * height, "label count \(labels.count) for \(width)x\(height)")
        (self.width, self.height, self.labels) = (width, height, labels)
    }

    public subscript(x: Int, y: Int) -> UInt8 {
        get { labels[y * width + x] }
        set { labels[y * width + x] = newValue }
    }
}

/// Images with a class per pixel (semantic segmentation), produced on demand like `Dataset`.
public protocol SegmentationDataset: Sendable {
    var count: Int { get }
    /// Class names; mask labels index into them (or are `Mask.ignoreIndex`).
    var classes: [String] { get }
    /// 1 (grey) or 3 (RGB).
    var channels: Int { get }
    /// The image and its mask, the same size.
    func sample(at index: Int) throws -> (image: Image, mask: Mask)
    /// Where a sample comes from, for messages.
    func source(of index: Int) -> String
}

extension SegmentationDataset {
    /// "2000 images, 11 classes, 1 channel".
    public var summary: String { "\(count) images, \(classes.count) classes, \(channels) channel\(channels == 1 ? "" : "s")" }
}
