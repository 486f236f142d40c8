import Foundation
import Models
import NN
import Optim
import Tensors

/// Training-step and inference images/s of a model on synthetic data: forward, cross-entropy,
/// backward and an SGD step (Nesterov, weight decay), after warm-up; the median of `rounds`
/// steps with the spread, the GFLOP/s that median achieves, and the process's peak resident
/// memory (run one model per process for a per-model figure: `tricks bench train` does).
public struct TrainStepBenchmark {
    public struct Result: Codable, Sendable {
        public var model: String, batchSize: Int, inputSize: Int
        /// `--precision` and the path that ran (native or emulated), e.g. "bf16 native (...)".
        public var precision: String, precisionPath: String
        public var trainImagesPerSecond: Double, trainSlowest: Double, trainFastest: Double
        public var inferenceImagesPerSecond: Double, inferenceSlowest: Double, inferenceFastest: Double
        /// Multiply-accumulates of one image's forward pass.
        public var macsPerImage: Int
        /// 2 FLOPs per MAC; a training step counts three passes (forward, backward-data,
        /// backward-weights), the usual convention (the stem's unneeded backward-data included).
        public var trainGFLOPs: Double, inferenceGFLOPs: Double
        public var peakResidentMB: Double
        /// Where it ran, and on a GPU the most device memory tensors held at once (the caching allocator's count).
        public var device: String? = nil, devicePeakMB: Double? = nil
    }

    /// The rows of issue 7's table: (model, batch, input side).
    public static let standardRows: [(model: String, batch: Int, input: Int)] = [
        ("cifar_resnet20", 128, 32), ("cifar_resnet18", 128, 32), ("resnet50b", 16, 224), ("resnet50d", 16, 224), ("mobilenet_v1", 32, 224),
    ]

    public var model: String, batchSize: Int, inputSize: Int, inputChannels: Int, rounds: Int
    /// As the trainer runs it (`PrecisionPath.choose`): parameters rounded with masters and the
    /// loss scaled where emulated.
    public var precision: DataType
    public var device: Device

    public init(model: String, batchSize: Int, inputSize: Int, inputChannels: Int = 3, rounds: Int = 5, precision: DataType = .float32,
                device: Device = .cpu) {
        (self.model, self.batchSize, self.inputSize, self.inputChannels, self.rounds) = (model, batchSize, inputSize, inputChannels, rounds)
        (self.precision, self.device) = (precision, device)
    }

    public func run() throws -> Result {
        try Device.with(device) { try measure() }
    }

    private func measure() throws -> Result {
        // FCN (`fcn_*`): Pascal VOC's 21 classes, the auxiliary head, and a label per pixel.
        let segmentation = model.hasPrefix("fcn_")
        let net = try ModelZoo.make(model, classes: segmentation ? 21 : 10, inputChannels: inputChannels, auxiliaryHead: segmentation)
        try net.initialize(.kaimingNormal, seed: 0)
        var rng = SeededGenerator(seed: 1)
        let x = try Tensor.randn([batchSize, inputChannels, inputSize, inputSize], using: &rng)
        let labels = (0..<batchSize).map { $0 % 10 }
        let pixelLabels = (0..<batchSize * inputSize * inputSize).map { $0 % 21 }
        func loss() throws -> Tensor {
            guard let fcn = net as? FCN else { return try crossEntropy(net(x), labels: labels) }
            let (out, aux) = try fcn.forwardWithAuxiliary(x)
            return try crossEntropy(out, labels: pixelLabels, ignoreIndex: 255) + scale(crossEntropy(aux!, labels: pixelLabels, ignoreIndex: 255), by: 0.4)
        }
        let path = PrecisionPath.choose(precision, on: device)
        let sgd = try SGD(groups: [ParameterGroup(name: "all", parameters: net.namedParameters(), weightDecay: 1e-4)],
                          masterPrecision: path.roundedParameters)
        let lossScale: Float = path.scalesLoss ? 1024 : 1
        net.train()
        let train = try timed {
            sgd.zeroGrad()
            try path.run { try scale(loss(), by: lossScale).backward() }
            try sgd.step(lr: 0.01, gradientScale: 1 / Double(lossScale))
        }
        net.eval()
        let inference = try timed { _ = try GradMode.withoutGradient { try path.run { try net(x) } } }
        let macs = try MACCounter.measure { _ = try GradMode.withoutGradient { try net(x) } } / batchSize
        let n = Double(batchSize), flops = 2 * Double(macs)
        let trainRate = n / train.median, inferenceRate = n / inference.median
        return Result(model: model, batchSize: batchSize, inputSize: inputSize, precision: precision.flagName, precisionPath: "\(path)",
                      trainImagesPerSecond: trainRate, trainSlowest: n / train.slowest, trainFastest: n / train.fastest,
                      inferenceImagesPerSecond: inferenceRate, inferenceSlowest: n / inference.slowest, inferenceFastest: n / inference.fastest,
                      macsPerImage: macs, trainGFLOPs: 3 * flops * trainRate / 1e9, inferenceGFLOPs: flops * inferenceRate / 1e9,
                      peakResidentMB: peakResidentMegabytes(), device: device.rawValue,
                      devicePeakMB: device.memoryStatistics.map { Double($0.peakAllocated) / 1_048_576 })
    }

    /// Two warm-up calls, then `rounds` timed ones.
    private func timed(_ body: () throws -> Void) throws -> RoundTimes {
        try RoundTimes(rounds: rounds, warmUp: 2) {
            try body()
            try device.synchronize()  // a GPU's kernels run after their launch returns
        }
    }
}

/// The most memory this process has held resident, in MB: VmHWM of /proc/self/status. Not
/// getrusage's ru_maxrss, which a process started by fork+exec inherits from its parent (a
/// Python parent that has imported PyTorch would count its own ~700 MB in every child).
public func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kiB = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return .nan }
    return kiB / 1024
}
