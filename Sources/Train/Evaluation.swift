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

/// With a `collective`, each process evaluates its shard of `loader` and the sums are combined:
/// every process gets the numbers of the whole dataset.
public func evaluate(_ model: Module, loader: DataLoader, collective: any Collective = SingleProcess()) throws -> Evaluation {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var (lossSum, correct1, correct5, count) = (0.0, 0, 0, 0)
    let device = model.device
    let iterator = loader.epoch(0)
    while let batch = try iterator.next() {
        try GradMode.withoutGradient {
            let logits = try model(batch.images.to(device))
            lossSum += Double(try crossEntropy(logits, labels: batch.labels).item()) * Double(batch.labels.count)
            let top = try topK(logits, k: min(5, logits.shape[1]))
            for (row, label) in zip(top, batch.labels) {
                if row.first == label { correct1 += 1 }
                if row.contains(label) { correct5 += 1 }
            }
            count += batch.labels.count
        }
    }
    let sums = try collective.allreduceSum([lossSum, Double(correct1), Double(correct5), Double(count)])
    let n = max(sums[3], 1)
    return Evaluation(loss: sums[0] / n, top1: 100 * sums[1] / n, top5: 100 * sums[2] / n, count: Int(sums[3]))
}
