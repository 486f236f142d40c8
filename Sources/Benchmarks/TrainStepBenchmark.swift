import Foundation
import Models
import NN
import Optim
import Tensors

/// Training-step and inference images/s of a model on synthetic data: forward, cross-entropy,
/// backward and an SGD step, after warm-up; the median of `rounds` steps with the spread.
public struct TrainStepBenchmark {
    public struct Result: Sendable {
        public var trainImagesPerSecond: Double
        public var trainSpread: (Double, Double)
        public var inferenceImagesPerSecond: Double
    }

    public var model: String, batchSize: Int, inputSize: Int, inputChannels: Int, rounds: Int

    public init(model: String, batchSize: Int, inputSize: Int, inputChannels: Int = 3, rounds: Int = 5) {
        (self.model, self.batchSize, self.inputSize, self.inputChannels, self.rounds) = (model, batchSize, inputSize, inputChannels, rounds)
    }

    public func run() throws -> Result {
        let net = try ModelZoo.make(model, classes: 10, inputChannels: inputChannels)
        try net.initialize(.kaimingNormal, seed: 0)
        var rng = SeededGenerator(seed: 1)
        let x = try Tensor.randn([batchSize, inputChannels, inputSize, inputSize], using: &rng)
        let labels = (0..<batchSize).map { $0 % 10 }
        let sgd = try SGD(groups: [ParameterGroup(name: "all", parameters: net.namedParameters(), weightDecay: 1e-4)])
        var times: [Double] = []
        net.train()
        for round in 0..<(rounds + 2) {
            let start = ContinuousClock.now
            sgd.zeroGrad()
            try crossEntropy(net(x), labels: labels).backward()
            try sgd.step(lr: 0.01)
            if round >= 2 { times.append((ContinuousClock.now - start).seconds) }
        }
        times.sort()
        net.eval()
        var inference: [Double] = []
        for round in 0..<(rounds + 2) {
            let start = ContinuousClock.now
            _ = try GradMode.withoutGradient { try net(x) }
            if round >= 2 { inference.append((ContinuousClock.now - start).seconds) }
        }
        inference.sort()
        let n = Double(batchSize)
        return Result(trainImagesPerSecond: n / times[times.count / 2], trainSpread: (n / times.last!, n / times.first!),
                      inferenceImagesPerSecond: n / inference[inference.count / 2])
    }
}
