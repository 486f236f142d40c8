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
/// in evaluation mode without a tape.
public func evaluateSegmentation(_ model: FCN, loader: DataLoader, classes: Int) throws -> SegmentationEvaluation {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var confusion = ConfusionMatrix(classes: classes)
    var (lossSum, counted) = (0.0, 0)
    let iterator = loader.epoch(0)
    while let batch = try iterator.next() {
        let (images, labels) = try unpackSegmentationBatch(batch)
        try GradMode.withoutGradient {
            let scores = try model(images.to(model.device))
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
