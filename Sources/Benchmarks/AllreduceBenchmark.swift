import Foundation
import Models
import NN
import Optim
import Tensors

/// Data-parallel cost on the machine at hand: per training step, the compute (forward,
/// backward, SGD step on this rank's batch) against the gradient allreduce (bucketed, as the
/// trainer does it), medians over `rounds` steps after warm-up. Run it under mpirun.
public struct AllreduceBenchmark {
    public struct Result: Sendable {
        public var computeSeconds: Double
        public var allreduceSeconds: Double
        public var gradientBytes: Int
        /// Bytes per second the allreduce moved, counted as a ring allreduce does:
        /// 2 (N - 1) / N x the gradient bytes through each process.
        public var busBandwidth: Double
    }

    public var model: String, batchSize: Int, inputSize: Int, rounds: Int, bucketMB: Double

    public init(model: String, batchSize: Int, inputSize: Int, rounds: Int = 5, bucketMB: Double = 25) {
        (self.model, self.batchSize, self.inputSize, self.rounds, self.bucketMB) = (model, batchSize, inputSize, rounds, bucketMB)
    }

    public func run(collective: any Collective) throws -> Result {
        let net = try ModelZoo.make(model, classes: 10, inputChannels: 3)
        try net.initialize(.kaimingNormal, seed: 0)
        var rng = SeededGenerator(seed: UInt64(1 + collective.rank))
        let x = try Tensor.randn([batchSize, 3, inputSize, inputSize], using: &rng)
        let labels = (0..<batchSize).map { $0 % 10 }
        let parameters = net.namedParameters()
        let sgd = try SGD(groups: [ParameterGroup(name: "all", parameters: parameters, weightDecay: 1e-4)])
        net.train()
        var compute: [Double] = [], exchange: [Double] = []
        for round in 0..<(rounds + 2) {
            let start = ContinuousClock.now
            sgd.zeroGrad()
            try crossEntropy(net(x), labels: labels).backward()
            let computed = ContinuousClock.now
            // Wait for the slower rank first, so the allreduce is timed alone.
            _ = try collective.allreduceSum([0.0])
            let synchronised = ContinuousClock.now
            try allreduceGradients(parameters.map(\.1), collective: collective, bucketMB: bucketMB)
            let exchanged = ContinuousClock.now
            try sgd.step(lr: 0.01, gradientScale: 1 / Double(collective.size))
            if round >= 2 {
                compute.append((computed - start).seconds + (ContinuousClock.now - exchanged).seconds)
                exchange.append((exchanged - synchronised).seconds)
            }
        }
        compute.sort()
        exchange.sort()
        let bytes = parameters.reduce(0) { $0 + $1.1.count } * MemoryLayout<Float>.size
        let n = Double(collective.size), seconds = exchange[exchange.count / 2]
        return Result(computeSeconds: compute[compute.count / 2], allreduceSeconds: seconds, gradientBytes: bytes,
                      busBandwidth: 2 * (n - 1) / n * Double(bytes) / seconds)
    }

    /// Ring allreduce time on N machines: 2 (N - 1) / N x bytes / bandwidth, plus 2 (N - 1)
    /// message latencies (each of the reduce-scatter and all-gather phases takes N - 1 steps).
    public static func ringAllreduceSeconds(bytes: Int, machines: Int, bitsPerSecond: Double, latency: Double = 50e-6) -> Double {
        let n = Double(machines)
        return 2 * (n - 1) / n * Double(bytes) * 8 / bitsPerSecond + 2 * (n - 1) * latency
    }
}
