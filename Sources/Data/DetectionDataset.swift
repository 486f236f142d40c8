import Foundation

/// One image and its objects, as a detector trains and is evaluated on them: boxes (x1, y1, x2,
/// y2) in pixel edges of the image (x2 is one past the last column, as torchvision's boxes),
/// classes 1 ... K (0 is the background, as torchvision's `num_classes` counts it) and, for
/// evaluation, which objects are `difficult` (VOC) or crowds (COCO's `iscrowd`): those are left
/// out of training and neither true nor false positives when evaluating.
public struct DetectionSample: Equatable, Sendable {
    public var image: Image
    public var boxes: [[Float]]
    public var labels: [Int]
    public var difficult: [Bool]

    public init(image: Image, boxes: [[Float]], labels: [Int], difficult: [Bool]? = nil) {
        (self.image, self.boxes, self.labels) = (image, boxes, labels)
        self.difficult = difficult ?? [Bool](repeating: false, count: boxes.count)
    }

    /// The objects a detector trains on: all but the difficult ones and the crowds.
    public var trainingObjects: (boxes: [[Float]], labels: [Int]) {
        let kept = boxes.indices.filter { !difficult[$0] }
        return (kept.map { boxes[$0] }, kept.map { labels[$0] })
    }

    /// The image mirrored left to right and its boxes with it (x1' = W - x2, x2' = W - x1).
    public func flippedHorizontally() -> DetectionSample {
        let (w, h, c) = (image.width, image.height, image.channels)
        var pixels = image.pixels
        for y in 0..<h {
            for x in 0..<w { for k in 0..<c { pixels[(y * w + x) * c + k] = image.pixels[(y * w + (w - 1 - x)) * c + k] } }
        }
        let width = Float(w)
        return DetectionSample(image: Image(width: w, height: h, channels: c, pixels: pixels),
                               boxes: boxes.map { [width - $0[2], $0[1], width - $0[0], $0[3]] }, labels: labels, difficult: difficult)
    }

    /// Throws, naming `source` and the object, where a box has no area, leaves the image or has a
    /// class outside 1 ... `classes`: a detector would otherwise train on it silently (a box of no
    /// area makes the box regression's log infinite, and the loss NaN).
    public func validate(source: String, classes: Int) throws {
        guard boxes.count == labels.count, boxes.count == difficult.count else {
            throw DataError(source, "\(boxes.count) boxes but \(labels.count) labels and \(difficult.count) difficult flags")
        }
        for (n, box) in boxes.enumerated() {
            try DetectionSample.check(box, object: "object \(n + 1)", source: source, width: image.width, height: image.height)
            guard (1...classes).contains(labels[n]) else {
                throw DataError(source, "object \(n + 1) has class \(labels[n]), not one of 1 ... \(classes)")
            }
        }
    }

    /// Throws, naming `source` and `object`, where `box` has no area or leaves a `width` x
    /// `height` image (half a pixel of slack: annotation tools round).
    public static func check(_ box: [Float], object: String, source: String, width: Int, height: Int) throws {
        guard box.count == 4, box.allSatisfy(\.isFinite) else { throw DataError(source, "\(object): box \(box) is not four finite numbers") }
        let described = "(\(box.map { String(format: "%g", $0) }.joined(separator: ", ")))"
        guard box[2] > box[0], box[3] > box[1] else {
            throw DataError(source, "\(object): box \(described) has no area (x2 must exceed x1 and y2 exceed y1)")
        }
        guard box[0] >= -0.5, box[1] >= -0.5, box[2] <= Float(width) + 0.5, box[3] <= Float(height) + 0.5 else {
            throw DataError(source, "\(object): box \(described) leaves the \(width)x\(height) image")
        }
    }
}

/// Images with boxes and classes: the built-in scenes (`GarmentDetectionScenes`), Pascal VOC
/// (`VOCDetection`) or a COCO JSON file (`COCODetection`). Samples are read on demand.
public protocol DetectionDataset: Sendable {
    var count: Int { get }
    /// The object classes, without the background: label k names `classes[k - 1]`.
    var classes: [String] { get }
    /// 1 (grey) or 3 (RGB): what `sample(at:)` returns.
    var channels: Int { get }
    func sample(at index: Int) throws -> DetectionSample
    /// Where a sample comes from (its image file), for messages and predictions.
    func source(of index: Int) -> String
}

extension DetectionDataset {
    /// "4000 images, 10 classes, 1 channel".
    public var summary: String {
        "\(count) images, \(classes.count) classes, \(channels) channel\(channels == 1 ? "" : "s")"
    }

    /// The sample, checked: a bad box or class is an error naming the file and the object.
    public func checkedSample(at index: Int) throws -> DetectionSample {
        let sample = try self.sample(at: index)
        try sample.validate(source: source(of: index), classes: classes.count)
        return sample
    }
}
