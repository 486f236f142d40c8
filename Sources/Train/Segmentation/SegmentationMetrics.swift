import Data
import Models
import NN
import Tensors

/// Pixel counts of (true class, predicted class), ignoring pixels labelled 255: what pixel
/// accuracy and IoU come from, summed over a whole validation set as the paper's Table 8 and
/// torchvision's reference (`ConfusionMatrix`) do.
public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: Int
    /// counts[truth * classes + prediction]
    public private(set) var counts: [Int]

    public init(classes: Int) {
        self.classes = classes
        counts = [Int](repeating: 0, count: classes * classes)
    }

    public mutating func add(truth: [Int], prediction: [Int]) {
        for (t, p) in zip(truth, prediction) where t != Int(Mask.ignoreIndex) { counts[t * classes + p] += 1 }
    }

    public var pixelAccuracy: Double {
        let total = counts.reduce(0, +)
        return total == 0 ? 0 : Double((0..<classes).map { counts[$0 * classes + $0] }.reduce(0, +)) / Double(total)
    }

    /// Intersection over union per class: TP / (TP + FP + FN); nil for a class that appears in
    /// neither the labels nor the predictions.
    public var iou: [Double?] {
        (0..<classes).map { c in
            let tp = counts[c * classes + c]
            let truth = (0..<classes).map { counts[c * classes + $0] }.reduce(0, +)
            let predicted = (0..<classes).map { counts[$0 * classes + c] }.reduce(0, +)
            let union = truth + predicted - tp
            return union == 0 ? nil : Double(tp) / Double(union)
        }
    }

    /// The mean IoU over the classes that appear.
    public var meanIoU: Double {
        let present = iou.compactMap { $0 }
        return present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
    }
}

public struct SegmentationEvaluation: Sendable {
    public var loss: Double
    public var confusion: ConfusionMatrix
    public var pixelAccuracy: Double { confusion.pixelAccuracy }
    public var meanIoU: Double { confusion.meanIoU }
}

/// Loss (main head), pixel accuracy and mIoU over a whole validation loader of packed samples,
/// in evaluation mode without a tape; with `slidingWindow` (window, stride), each image (batch
/// 1) is scored by `slidingWindowScores`.
public func evaluateSegmentation(_ model: FCN, loader: DataLoader, classes: Int,
                                 slidingWindow: (window: Int, stride: Int)? = nil) throws -> SegmentationEvaluation {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var confusion = ConfusionMatrix(classes: classes)
    var (lossSum, counted) = (0.0, 0)
    let iterator = loader.epoch(0)
    while let batch = try iterator.next() {
        let (images, labels) = try unpackSegmentationBatch(batch)
        try GradMode.withoutGradient {
            let scores = try slidingWindow.map { try slidingWindowScores(model, image: images, window: $0.window, stride: $0.stride) }
                ?? model(images.to(model.device))
            let valid = labels.filter { $0 != Int(Mask.ignoreIndex) }.count
            lossSum += Double(try crossEntropy(scores, labels: labels, ignoreIndex: Int(Mask.ignoreIndex)).item()) * Double(valid)
            counted += valid
            confusion.add(truth: labels, prediction: try argmaxOverClasses(scores))
        }
    }
    return SegmentationEvaluation(loss: counted > 0 ? lossSum / Double(counted) : 0, confusion: confusion)
}

/// The highest-scoring class per pixel of [N, K, H, W] scores, as labels [N x H x W].
public func argmaxOverClasses(_ scores: Tensor) throws -> [Int] {
    let (n, k, pixels) = (scores.shape[0], scores.shape[1], scores.shape[2] * scores.shape[3])
    let values = try scores.scalars
    var result = [Int](repeating: 0, count: n * pixels)
    for i in 0..<n {
        for p in 0..<pixels {
            var best = 0
            for c in 1..<k where values[(i * k + c) * pixels + p] > values[(i * k + best) * pixels + p] { best = c }
            result[i * pixels + p] = best
        }
    }
    return result
}

/// Class scores of one large image [1, C, H, W] from `window` x `window` crops `stride` apart
/// (the last ones flush with the right and bottom edges), averaged where they overlap, as
/// GluonCV's and mmsegmentation's sliding-window evaluation: for images larger than the crops a
/// model was trained on. An image smaller than the window is evaluated whole.
public func slidingWindowScores(_ model: Module, image: Tensor, window: Int, stride: Int) throws -> Tensor {
    precondition(image.rank == 4 && image.shape[0] == 1, "one image [1, C, H, W]")
    precondition(window >= 1 && stride >= 1)
    let (c, h, w) = (image.shape[1], image.shape[2], image.shape[3])
    guard h > window || w > window else { return try GradMode.withoutGradient { try model(image) } }
    func starts(_ size: Int) -> [Int] {
        guard size > window else { return [0] }
        var positions = Array(Swift.stride(from: 0, to: size - window, by: stride))
        positions.append(size - window)
        return positions
    }
    let pixels = try image.scalars
    var sums: [Float] = [], counts = [Float](repeating: 0, count: h * w), classes = 0
    for top in starts(h) {
        for left in starts(w) {
            let (ch, cw) = (min(window, h), min(window, w))
            var crop = [Float](repeating: 0, count: c * ch * cw)
            for k in 0..<c { for y in 0..<ch { for x in 0..<cw { crop[(k * ch + y) * cw + x] = pixels[(k * h + top + y) * w + left + x] } } }
            let scores = try GradMode.withoutGradient { try model(Tensor(shape: [1, c, ch, cw], scalars: crop)) }
            if sums.isEmpty {
                classes = scores.shape[1]
                sums = [Float](repeating: 0, count: classes * h * w)
            }
            let values = try scores.scalars
            for k in 0..<classes { for y in 0..<ch { for x in 0..<cw { sums[(k * h + top + y) * w + left + x] += values[(k * ch + y) * cw + x] } } }
            for y in 0..<ch { for x in 0..<cw { counts[(top + y) * w + left + x] += 1 } }
        }
    }
    for k in 0..<classes { for p in 0..<h * w { sums[k * h * w + p] /= counts[p] } }
    return try Tensor(shape: [1, classes, h, w], scalars: sums)
}
