import Data
import NN
import Tensors

/// Loss, top-1 and top-5 (in %) over a whole dataset, in eval mode without a tape.
public struct Evaluation: Sendable {
    public var loss: Double
    public var top1: Double
    public var top5: Double
    public var count: Int
    /// Each image's top-1 class, in the loader's order (this process's shard).
    public var predictions: [Int] = []
}

/// With a `collective`, each process evaluates its shard of `loader` and the sums are combined:
/// every process gets the numbers of the whole dataset.
/// `precision` bf16 runs the model in bf16 (where the CPU computes in it natively), as
/// `eval --precision bf16` and `predict --precision bf16` do.
public func evaluate(_ model: Module, loader: DataLoader, collective: any Collective = SingleProcess(),
                     precision: DataType = .float32) throws -> Evaluation {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var (lossSum, correct1, correct5, count) = (0.0, 0, 0, 0)
    var predictions: [Int] = []
    let device = model.device
    let iterator = loader.epoch(0)
    while let batch = try iterator.next() {
        try GradMode.withoutGradient {
            let images = try batch.images.to(device)
            // Autocast with .float32 changes nothing, and converting a Float32 tensor returns it.
            let logits = try Autocast.with(precision) { try model(images) }.converted(to: .float32)
            lossSum += Double(try crossEntropy(logits, labels: batch.labels).item()) * Double(batch.labels.count)
            let top = try topK(logits, k: min(5, logits.shape[1]))
            predictions += top.map { $0[0] }
            for (row, label) in zip(top, batch.labels) {
                if row.first == label { correct1 += 1 }
                if row.contains(label) { correct5 += 1 }
            }
            count += batch.labels.count
        }
    }
    let sums = try collective.allreduceSum([lossSum, Double(correct1), Double(correct5), Double(count)])
    let n = max(sums[3], 1)
    return Evaluation(loss: sums[0] / n, top1: 100 * sums[1] / n, top5: 100 * sums[2] / n, count: Int(sums[3]), predictions: predictions)
}
