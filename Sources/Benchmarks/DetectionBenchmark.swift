import Foundation
import Models
import NN
import Optim
import Tensors

/// Issue 29's speed rows for `fasterrcnn_resnet50_fpn` (91 classes, frozen BatchNorm, the last 3
/// stages trainable: torchvision's fine-tuning setting): a training step (forward, the four
/// losses, backward, SGD) on a batch of images, or inference on one, resized to `minSize`;
/// images/s, peak memory and the share of the time in RoIAlign and NMS (`OpTimes`).
/// `bench/detection_reference.py` runs the same on torchvision with the same weights and images.
public struct DetectionBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var mode: String, images: Int, minSize: Int
        public var imagesPerSecond: Double, medianSeconds: Double
        public var peakResidentMB: Double
        /// Fraction of the timed rounds' wall time per op ("roi_align", "roi_align backward", "nms").
        public var shares: [String: Double]
    }

    public enum Mode: String, Sendable { case train, infer }

    public var mode: Mode, minSize: Int, rounds: Int
    /// fp32, or bf16 as `tricks detect train` and `predict` run it (native only).
    public var precision: DataType

    public init(mode: Mode, minSize: Int, rounds: Int, precision: DataType = .float32) {
        (self.mode, self.minSize, self.rounds, self.precision) = (mode, minSize, rounds, precision)
    }

    /// `weights`: a state dict (torchvision's keys) to load, else Kaiming's initialisation and
    /// torchvision's for the heads; `inputs`: a safetensors file of `image0`, `image1`, ... [3, H, W]
    /// in [0, 1] with `boxes0` [K, 4] and `labels0` [K], ..., else two generated 512x683 images.
    public func run(weights: String?, inputs: String?) throws -> Result {
        HostMemoryPool.setMargin(0)  // as `tricks detect` runs (DetectionTask.makeDetector)
        var settings = FasterRCNNSettings()
        settings.minSize = minSize
        let model = try FasterRCNN(backbone: ModelZoo.resnetConfig("resnet50")!, classes: 91, frozenBatchNorm: true, settings: settings)
        if let weights {
            try model.loadStateDict(SafeTensors.read(weights).entries, source: weights)
        } else {
            try model.initialize(.kaimingNormal, seed: 0)
            try model.initializeHeads(seed: 1)
        }
        try model.trainBackboneLayers(3)
        let path = PrecisionPath.choose(precision, on: .cpu)
        if case .emulated = path { throw OpError(op: "bench detect", "\(precision.flagName) needs a CPU that computes in it natively (AVX-512 BF16)") }
        let (images, targets) = try DetectionBenchmark.inputs(inputs)
        let count = mode == .train ? images.count : 1
        let body: () throws -> Void
        switch mode {
        case .train:
            model.train()
            let trainable = model.namedParameters().filter(\.1.requiresGrad)
            let optimizer = try SGD(groups: parameterGroups(trainable, weightDecay: 1e-4, noBiasDecay: false), momentum: 0.9)
            var generator = SeededGenerator(seed: 2)
            body = {
                optimizer.zeroGrad()
                try path.run { try model.losses(images, targets: targets, generator: &generator).total().backward() }
                try optimizer.step(lr: 1e-6)  // a full step's work, weights (hence proposals) as loaded
            }
        case .infer:
            model.eval()
            body = { _ = try GradMode.withoutGradient { try path.run { try model.detect([images[0]]) } } }
        }
        for _ in 0..<2 { try body() }  // warm-up: kernels chosen, buffers sized
        let (times, totals) = try OpTimes.collecting { try RoundTimes(rounds: rounds, warmUp: 0, body) }
        let timed = times.sorted.reduce(0, +)
        return Result(mode: mode.rawValue, images: count, minSize: minSize, imagesPerSecond: Double(count) / times.median,
                      medianSeconds: times.median, peakResidentMB: peakResidentMegabytes(), shares: totals.mapValues { $0 / timed })
    }

    static func inputs(_ path: String?) throws -> ([Tensor], [DetectionTarget]) {
        guard let path else {
            var generator = SeededGenerator(seed: 3)
            let images = try (0..<2).map { _ in try Tensor.uniform([3, 512, 683], low: 0, high: 1, using: &generator) }
            let boxes = [Box(40, 60, 200, 300), Box(300, 100, 620, 400), Box(100, 350, 260, 500)]
            return (images, [DetectionTarget(boxes: boxes, labels: [1, 18, 44]), DetectionTarget(boxes: Array(boxes.prefix(2)), labels: [3, 62])])
        }
        let entries = try SafeTensors.read(path).entries
        var images: [Tensor] = [], targets: [DetectionTarget] = []
        while let image = entries["image\(images.count)"] {
            let n = images.count
            images.append(try Tensor(shape: image.shape, scalars: image.floats()))
            guard let boxes = entries["boxes\(n)"], let labels = entries["labels\(n)"] else {
                throw OpError(op: "bench detect", "\(path) has image\(n) but not boxes\(n) and labels\(n)")
            }
            let b = try boxes.floats()
            targets.append(DetectionTarget(boxes: stride(from: 0, to: b.count, by: 4).map { Box(b[$0], b[$0 + 1], b[$0 + 2], b[$0 + 3]) },
                                           labels: try labels.floats().map { Int($0) }))
        }
        guard !images.isEmpty else { throw OpError(op: "bench detect", "\(path) holds no image0") }
        return (images, targets)
    }
}
