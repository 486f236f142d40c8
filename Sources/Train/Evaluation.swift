import Data
import NN
import Tensors

/// Loss, top-1 and top-5 (in %) over a whole dataset, in eval mode without a tape.
public struct Evaluation: Sendable {
    public var loss: Double
    public var top1: Double
    public var top5: Double
    public var count: Int
}

public func evaluate(_ model: Module, loader: DataLoader) throws -> Evaluation {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var (lossSum, correct1, correct5, count) = (0.0, 0, 0, 0)
    let iterator = loader.epoch(0)
    while let batch = try iterator.next() {
        try GradMode.withoutGradient {
            let logits = try model(batch.images)
            lossSum += Double(try crossEntropy(logits, labels: batch.labels).item()) * Double(batch.labels.count)
            let top = try topK(logits, k: min(5, logits.shape[1]))
            for (row, label) in zip(top, batch.labels) {
                if row.first == label { correct1 += 1 }
                if row.contains(label) { correct5 += 1 }
            }
            count += batch.labels.count
        }
    }
    let n = Double(max(count, 1))
    return Evaluation(loss: lossSum / n, top1: 100 * Double(correct1) / n, top5: 100 * Double(correct5) / n, count: count)
}
