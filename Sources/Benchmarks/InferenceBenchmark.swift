import Foundation
import Models
import NN
import Tensors

/// Evaluation-mode images/s and latency of a model on synthetic data, as `predict` and `eval`
/// run it: no gradient, the fused inference path (`InferenceFusion`) unless `fused` is off.
public struct InferenceBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var model: String, batchSize: Int, inputSize: Int, precision: String, fused: Bool
        public var imagesPerSecond: Double
        /// Milliseconds per batch: the median and the 90th percentile of the timed rounds.
        public var medianMilliseconds: Double, p90Milliseconds: Double
        public var peakResidentMB: Double
    }

    /// Issue 31's rows: (model, input side), each at batch 1 and 16.
    public static let standardRows: [(model: String, input: Int)] = [
        ("cifar_resnet20", 32), ("resnet50", 224), ("resnet50d", 224), ("mobilenet_v1", 224), ("fcn_resnet50", 224),
    ]

    public var model: String, batchSize: Int, inputSize: Int, rounds: Int, precision: DataType, fused: Bool

    public init(model: String, batchSize: Int, inputSize: Int, rounds: Int = 20, precision: DataType = .float32, fused: Bool = true) {
        (self.model, self.batchSize, self.inputSize, self.rounds, self.precision, self.fused) = (model, batchSize, inputSize, rounds, precision, fused)
    }

    /// `loaded`: the model with its weights (a checkpoint or a state dict); default: Kaiming's
    /// initialisation with ImageNet's 1,000 classes (Pascal VOC's 21 for FCN).
    public func run(_ loaded: Module? = nil) throws -> Result {
        let net = try loaded ?? {
            let made = try ModelZoo.make(model, classes: model.hasPrefix("fcn_") ? 21 : 1000)
            try made.initialize(.kaimingNormal, seed: 0)
            return made
        }()
        net.eval()
        var rng = SeededGenerator(seed: 1)
        let x = try Tensor.randn([batchSize, 3, inputSize, inputSize], using: &rng)
        let times = try RoundTimes(rounds: rounds, warmUp: 3) {
            _ = try InferenceFusion.with(fused) { try GradMode.withoutGradient { try Autocast.with(precision) { try net(x) } } }
        }
        return Result(model: model, batchSize: batchSize, inputSize: inputSize, precision: precision.flagName, fused: fused,
                      imagesPerSecond: Double(batchSize) / times.median, medianMilliseconds: 1000 * times.median, p90Milliseconds: 1000 * times.p90,
                      peakResidentMB: peakResidentMegabytes())
    }
}
