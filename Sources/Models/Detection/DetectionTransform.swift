import Foundation
import Tensors

/// torchvision's `GeneralizedRCNNTransform`: each image [3, H, W] in [0, 1] normalised by the
/// ImageNet mean and std, resized bilinearly so that its shorter side is `minSize` unless its
/// longer side would pass `maxSize`, and the batch zero-padded at the bottom and right to a
/// multiple of 32; boxes are scaled with their image and mapped back after detection.
public struct DetectionTransform: Sendable {
    public var settings: FasterRCNNSettings

    public init(_ settings: FasterRCNNSettings) { self.settings = settings }

    /// The size an image of `height` x `width` is resized to, computed as torchvision does (in
    /// Double, floor(side x scale)).
    public func resizedSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let (short, long) = (Double(min(height, width)), Double(max(height, width)))
        let scale = min(Double(settings.minSize) / short, Double(settings.maxSize) / long)
        return (Int((Double(height) * scale).rounded(.down)), Int((Double(width) * scale).rounded(.down)))
    }

    /// The batch [N, 3, H, W] and each image's size inside it (before padding).
    public func batch(_ images: [Tensor]) throws -> (batch: Tensor, sizes: [(height: Int, width: Int)]) {
        guard !images.isEmpty else { throw OpError(op: "detection transform", "no images") }
        var resized: [(values: [Float], height: Int, width: Int)] = []
        for (index, image) in images.enumerated() {
            guard image.rank == 3, image.shape[0] == settings.imageMean.count else {
                throw OpError(op: "detection transform", "image \(index) must be [\(settings.imageMean.count), H, W], got \(image.shape)")
            }
            let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
            var values = try image.scalars
            for channel in 0..<c {
                let (mean, std) = (settings.imageMean[channel], settings.imageStd[channel])
                for i in (channel * h * w)..<((channel + 1) * h * w) { values[i] = (values[i] - mean) / std }
            }
            let size = resizedSize(height: h, width: w)
            let scaled = try upsampleBilinear2d(Tensor(shape: [1, c, h, w], scalars: values, device: image.device), size: (size.height, size.width))
            resized.append((try scaled.scalars, size.height, size.width))
        }
        let divisor = settings.sizeDivisible
        let height = (resized.map(\.height).max()! + divisor - 1) / divisor * divisor
        let width = (resized.map(\.width).max()! + divisor - 1) / divisor * divisor
        let channels = images[0].shape[0]
        var padded = [Float](repeating: 0, count: images.count * channels * height * width)
        for (n, image) in resized.enumerated() {
            for c in 0..<channels {
                for y in 0..<image.height {
                    let source = (c * image.height + y) * image.width, destination = ((n * channels + c) * height + y) * width
                    for x in 0..<image.width { padded[destination + x] = image.values[source + x] }
                }
            }
        }
        return (try Tensor(shape: [images.count, channels, height, width], scalars: padded, device: images[0].device),
                resized.map { ($0.height, $0.width) })
    }

    /// Boxes of an image of size `from` scaled to size `to` (torchvision's `resize_boxes`: the
    /// ratios in Float32).
    public static func resize(_ boxes: [Box], from: (height: Int, width: Int), to: (height: Int, width: Int)) -> [Box] {
        let (ry, rx) = (Float(to.height) / Float(from.height), Float(to.width) / Float(from.width))
        return boxes.map { Box($0.x1 * rx, $0.y1 * ry, $0.x2 * rx, $0.y2 * ry) }
    }
}
