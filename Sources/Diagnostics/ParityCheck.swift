import Foundation
import Models
import NN
import Optim
import Tensors

/// The checks of `tricks selftest` (one backend against another: every op forward and
/// backward, a training step of four zoo models, the optimiser step bit for bit, a checkpoint
/// moved between them), each reported to `log` as it completes. Here rather than in the
/// command so that the tests run it too (`CUDABackendModelTests`): the GPU session relies on it.
public struct ParityCheck {
    public struct Result: Sendable { public let name: String; public let passed: Bool }
    public let tested: Device, baseline: Device
    public private(set) var results: [Result] = []
    private let log: (String) -> Void

    public init(tested: Device, baseline: Device, log: @escaping (String) -> Void = { print($0) }) {
        (self.tested, self.baseline, self.log) = (tested, baseline, log)
    }

    /// How far `tested` is from `baseline`: the largest |tested - baseline| (infinite where the
    /// counts differ or only one side is NaN) and the scale it is judged against, max |baseline|
    /// with 1e-6 its floor. The measure of every backend comparison, here and in the tests.
    public static func difference(_ tested: [Float], _ baseline: [Float]) -> (worst: Float, scale: Float) {
        let scale = max(baseline.map(abs).max() ?? 0, 1e-6)
        guard tested.count == baseline.count else { return (.infinity, scale) }
        return (zip(tested, baseline).map { $0.isNaN != $1.isNaN ? .infinity : abs($0 - $1) }.max() ?? 0, scale)
    }

    /// Passes when max |tested - baseline| <= tolerance * max |baseline| (`difference`).
    mutating func record(_ name: String, _ a: [Float], _ b: [Float], tolerance: Float) {
        let (worst, scale) = Self.difference(a, b)
        let passed = worst == 0 || worst <= tolerance * scale
        results.append(Result(name: name, passed: passed))
        log(String(format: "%@  %-58@ worst %.2e of %.2e (tolerance %.0e)", passed ? "ok  " : "FAIL", name as NSString, worst, scale, tolerance))
    }

    mutating func failure(_ name: String, _ error: any Error) {
        results.append(Result(name: name, passed: false))
        log("FAIL  \(name): \(error)")
    }

    func random(_ shape: [Int], _ seed: UInt64, scale: Float = 1) throws -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return try Tensor.uniform(shape, low: -scale, high: scale, using: &generator)
    }

    /// `op` on both devices from copies of `inputs`: the result and the gradient of
    /// sum(result * R) for a fixed random R with respect to every input.
    mutating func compare(_ what: String, _ inputs: [Tensor], tolerance: Float = 1e-3, _ op: ([Tensor]) throws -> Tensor) {
        do {
            var outputs: [[[Float]]] = []
            for device in [tested, baseline] {
                // Fresh leaves: `to` would hand back the input itself on its own device.
                let xs = try inputs.map { try Tensor(shape: $0.shape, scalars: $0.scalars, requiresGrad: true, device: device) }
                let y = try op(xs)
                var generator = SeededGenerator(seed: 17)
                try y.backward(gradient: Tensor.randn(y.shape, using: &generator).to(device))
                outputs.append([try y.scalars] + (try xs.map { try $0.grad?.scalars ?? [] }))
            }
            record(what, outputs[0][0], outputs[1][0], tolerance: tolerance)
            for i in inputs.indices { record("\(what): gradient \(i)", outputs[0][i + 1], outputs[1][i + 1], tolerance: tolerance) }
        } catch {
            failure(what, error)
        }
    }

    public mutating func ops() throws {
        let convolutions: [(String, [Int], [Int], (Int, Int), (Int, Int), (Int, Int), Int, Bool)] = [
            ("3x3 pad 1 bias", [2, 5, 7, 6], [4, 5, 3, 3], (1, 1), (1, 1), (1, 1), 1, true),
            ("stride 2", [2, 3, 9, 9], [8, 3, 3, 3], (2, 2), (1, 1), (1, 1), 1, false),
            ("7x7 stem", [2, 3, 32, 32], [16, 3, 7, 7], (2, 2), (3, 3), (1, 1), 1, false),
            ("1x1", [4, 64, 8, 8], [32, 64, 1, 1], (1, 1), (0, 0), (1, 1), 1, false),
            ("depthwise", [2, 8, 6, 6], [8, 1, 3, 3], (1, 1), (1, 1), (1, 1), 8, false),
            ("groups 2 bias", [1, 6, 5, 5], [4, 3, 3, 3], (1, 1), (1, 1), (1, 1), 2, true),
            ("dilation 2", [1, 4, 9, 9], [4, 4, 3, 3], (1, 1), (2, 2), (2, 2), 1, false),
            ("1x7", [1, 4, 8, 8], [4, 4, 1, 7], (1, 1), (0, 3), (1, 1), 1, false),
        ]
        for (name, xs, ws, stride, padding, dilation, groups, bias) in convolutions {
            let inputs = try [random(xs, 1), random(ws, 2)] + (bias ? [random([ws[0]], 3)] : [])
            compare("conv2d \(name) \(xs) * \(ws)", inputs) { t in
                try conv2d(t[0], weight: t[1], bias: t.count > 2 ? t[2] : nil, stride: stride, padding: padding, dilation: dilation, groups: groups)
            }
        }
        for (training, relu) in [(true, false), (true, true), (false, false), (false, true)] {
            do {
                var statistics: [[Float]] = []
                for device in [tested, baseline] {
                    let mean = try Tensor(shape: [6], scalars: (0..<6).map { Float($0) * 0.1 }, device: device)
                    let variance = try Tensor(shape: [6], scalars: (0..<6).map { 1 + Float($0) * 0.2 }, device: device)
                    _ = try GradMode.withoutGradient {
                        try batchNorm(random([3, 6, 4, 5], 4).to(device), weight: random([6], 5).to(device), bias: random([6], 6).to(device),
                                      runningMean: mean, runningVar: variance, training: training, fusedReLU: relu)
                    }
                    statistics.append(try mean.scalars + variance.scalars)
                }
                record("batch_norm running statistics, training \(training)", statistics[0], statistics[1], tolerance: 1e-5)
            } catch {
                failure("batch_norm running statistics", error)
            }
            compare("batch_norm training \(training) relu \(relu)", [try random([3, 6, 4, 5], 4), try random([6], 5), try random([6], 6)]) { t in
                let device = t[0].device
                return try batchNorm(t[0], weight: t[1], bias: t[2], runningMean: Tensor.zeros([6], device: device),
                                     runningVar: Tensor.full([6], 1.5, device: device), training: training, fusedReLU: relu)
            }
        }
        let values: [Float] = (0..<486).map { i in Float((i * 37) % 486) / 100 - 2 }  // no ties in a max window
        let x = try Tensor(shape: [2, 3, 9, 9], scalars: values)
        compare("max_pool2d 3x3 s2 p1", [x]) { try maxPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        compare("max_pool2d ceil", [x]) { try maxPool2d($0[0], kernel: (2, 2), stride: (2, 2), ceilMode: true) }
        compare("max_pool2d dilation 2", [x]) { try maxPool2d($0[0], kernel: (2, 2), stride: (1, 1), dilation: (2, 2)) }
        compare("avg_pool2d 3x3 include pad", [x]) { try avgPool2d($0[0], kernel: (3, 3), stride: (1, 1), padding: (1, 1)) }
        compare("avg_pool2d 2x2 ceil exclude pad", [x]) { try avgPool2d($0[0], kernel: (2, 2), stride: (2, 2), ceilMode: true, countIncludePad: false) }
        compare("global avg_pool2d", [x]) { try globalAvgPool2d($0[0]) }
        compare("linear", [try random([3, 7], 7), try random([4, 7], 8), try random([4], 9)]) { try linear($0[0], weight: $0[1], bias: $0[2]) }
        compare("linear 256 x 2048 -> 1000", [try random([256, 2048], 7), try random([1000, 2048], 8, scale: 0.02)]) { try linear($0[0], weight: $0[1]) }
        compare("concat", [try random([2, 3, 4, 4], 10), try random([2, 5, 4, 4], 11)]) { try concat($0, axis: 1) }
        compare("add_relu", [try random([2, 3, 4, 4], 12), try random([2, 3, 4, 4], 13)]) { try addReLU($0[0], $0[1]) }
        compare("relu", [try random([2, 3, 4, 4], 14)]) { try relu($0[0]) }
        compare("relu6", [try random([2, 3, 4, 4], 19, scale: 8)]) { try relu6($0[0]) }
        compare("multiply", [try random([2, 3], 15), try random([2, 3], 16)]) { try multiply($0[0], $0[1]) }
        compare("log_softmax", [try random([64, 1000], 19, scale: 5)]) { try logSoftmax($0[0]) }
        compare("cross_entropy, soft targets", [try random([3, 5], 17), try random([3, 5], 18)]) { try crossEntropy($0[0], target: $0[1]) }
        do {
            let awkward: [Float] = [0, 1, -1, 65504, 65520, 1e-8, 6e-5, 1.00390625, 1.01171875, 1.0009765625] + (0..<90).map { Float($0) * 3.7 - 150 }
            let t = try Tensor(shape: [awkward.count], scalars: awkward, device: tested)
            for type in [DataType.bfloat16, .float16] {
                record("cast to \(type) and back (exact)", try t.converted(to: type).scalars, awkward.map { rounded($0, to: type) }, tolerance: 0)
            }
        } catch {
            failure("casts", error)
        }
    }

    /// Three NAG steps with weight decay, gradient scale and bf16 masters: the device's kernel
    /// against the baseline's, bit for bit.
    public mutating func optimizer() throws {
        do {
            var finals: [[Float]] = []
            for device in [tested, baseline] {
                var generator = SeededGenerator(seed: 11)
                let w = try Tensor.randn([1000], using: &generator).to(device)
                w.requiresGrad = true
                let sgd = try SGD(groups: [ParameterGroup(name: "decay", parameters: [("w", w)], weightDecay: 5e-4)], masterPrecision: .bfloat16)
                for step in 0..<3 {
                    w.grad = try Tensor.randn([1000], using: &generator).to(device)
                    try sgd.step(lr: 0.1 / Double(step + 1), gradientScale: 0.5)
                }
                finals.append(try w.scalars + sgd.buffers["w"]! + sgd.masters["w"]!)
            }
            record("SGD step with bf16 masters (bit for bit)", finals[0], finals[1], tolerance: 0)
        } catch {
            failure("SGD step", error)
        }
    }

    /// One training step of each model from the same weights and batch: loss, logits, every
    /// parameter's gradient and the batch-norm statistics (the well-conditioned settings of
    /// `BackendParityTests`: batch 2, residual branches' last BatchNorm scale at 0.1).
    public mutating func models() throws {
        for (name, size) in [("cifar_resnet20", 32), ("resnet50d", 64), ("mobilenet_v1_025", 64), ("resnet18", 64)] {
            do {
                let (a, b) = try Self.trainingStep(name, size: size, classes: 10, tested: tested, baseline: baseline)
                record("\(name) training step: loss", a.loss, b.loss, tolerance: 2e-3)
                record("\(name) training step: logits", a.logits, b.logits, tolerance: 2e-3)
                record("\(name) training step: gradients", a.gradients.flatMap(\.values), b.gradients.flatMap(\.values), tolerance: 2e-3)
                record("\(name) training step: batch-norm statistics", a.buffers.flatMap(\.values), b.buffers.flatMap(\.values), tolerance: 2e-3)
            } catch {
                failure("\(name) training step", error)
            }
        }
    }

    /// What one training step of a model computed on one device.
    public struct TrainingStep {
        /// Where the logits were computed: the model's device, or the comparison is void.
        public let device: Device
        public let loss: [Float], logits: [Float]
        public let gradients: [(name: String, values: [Float])]
        /// The buffers after the step: the batch-norm running statistics it updated.
        public let buffers: [(name: String, values: [Float])]
    }

    /// One training step of zoo model `name` on `tested` and on `baseline`, from the same
    /// weights (`initializeForComparison`'s, set on the baseline and copied) and the same batch
    /// [2, channels, size, size] with labels [1, 3]; channels 1 for the CIFAR models and LeNet.
    public static func trainingStep(_ name: String, size: Int, classes: Int, tested: Device, baseline: Device) throws -> (tested: TrainingStep, baseline: TrainingStep) {
        let channels = name.hasPrefix("cifar_") || name == "lenet5" ? 1 : 3
        let models = try [tested, baseline].map { d in try Device.with(d) { try ModelZoo.make(name, classes: classes, inputChannels: channels) } }
        try initializeForComparison(models[1])
        for ((_, a), (_, b)) in zip(models[0].namedParameters() + models[0].namedBuffers(), models[1].namedParameters() + models[1].namedBuffers()) {
            try a.assign(b)
        }
        var generator = SeededGenerator(seed: 4)
        let x = try Tensor.randn([2, channels, size, size], using: &generator)
        let steps = try models.map { model -> TrainingStep in
            model.train(true)
            let logits = try model(x.to(model.device))
            let loss = try crossEntropy(logits, labels: [1, 3])
            try loss.backward()
            let gradients = try model.namedParameters().map { key, p in
                guard let g = p.grad else { throw OpError(op: "training step", "\(name): \(key) got no gradient on \(model.device)") }
                return (name: key, values: try g.scalars)
            }
            return TrainingStep(device: logits.device, loss: try loss.scalars, logits: try logits.scalars, gradients: gradients,
                                buffers: try model.namedBuffers().map { (name: $0.0, values: try $0.1.scalars) })
        }
        return (steps[0], steps[1])
    }

    /// Weights for comparing two backends: the paper's Xavier initialisation, with each residual
    /// branch's last BatchNorm scale at 0.1: not zero-gamma's 0, which would leave every
    /// branch's own gradients at exactly 0 and test nothing, and not 1, which makes the residual
    /// stream of a deep network grow until rounding dominates (`BackendParityTests`).
    public static func initializeForComparison(_ model: Module) throws {
        try model.initialize(.xavierUniform, seed: 3, zeroGamma: true)
        for (_, p) in model.namedParameters() where p.rank == 1 {
            if try p.scalars.allSatisfy({ $0 == 0 }) { try p.assign([Float](repeating: 0.1, count: p.count)) }
        }
    }

    /// A model saved from the tested device loads on the baseline and computes the same logits.
    public mutating func checkpoint() throws {
        do {
            let model = try Device.with(tested) { try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1) }
            try model.initialize(.kaimingNormal, seed: 7, zeroGamma: false)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("selftest-\(getpid()).safetensors").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            try model.save(to: file)
            let loaded = try Device.with(baseline) { try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1) }
            try loaded.load(from: file)
            model.train(false)
            loaded.train(false)
            var generator = SeededGenerator(seed: 8)
            let x = try Tensor.randn([2, 1, 16, 16], using: &generator)
            record("checkpoint saved on \(tested), loaded on \(baseline): logits", try model(x.to(tested)).scalars, try loaded(x.to(baseline)).scalars,
                   tolerance: 1e-4)
        } catch {
            failure("checkpoint", error)
        }
    }
}
