import Models
import NN
import Tensors
import XCTest

/// Every zoo model runs a forward and backward pass in native bfloat16 (`Autocast`: oneDNN's
/// bf16 kernels): every conv, pool, concat and add arrangement the zoo has has a bf16 kernel,
/// the loss is finite and parameter gradients are Float32.
///
/// One model of each family then does the same pass against the emulation (`StoragePrecision`:
/// Float32 kernels, each result and gradient rounded to bf16), from the same bf16-valued
/// weights and input. Both round at
/// the same places, so they agree closely; against plain Float32 they would not: rounding to 8
/// bits of mantissa moves a deep network's gradients by 10-90% at initialisation (measured here:
/// MobileNet-0.25 in training mode 89% for the emulation and the native path alike; PyTorch's
/// own bf16 autocast moves torchvision's ResNet-34 gradients by 24% (median tensor) in the
/// same setting, `scripts/bf16_gradient_noise.py`).
///
/// Tolerance, relative L2 (|native - emulated| / |emulated|): loss 2%, logits 5%, all parameter
/// gradients together 10%, any one tensor 40% (a wrong kernel gives 100% or more). Measured
/// worst over the whole zoo: loss 1.2% (cifar_resnet152d). Inference-mode BatchNorm (running
/// statistics), as `BackendParityTests`; training mode on CIFAR ResNets, where it is well
/// conditioned (ResNet-18-D at batch 8 is not: native and emulated part by 14%, as two
/// emulations with different summation orders would). Skipped where the CPU has no BF16.
final class BFloat16ModelTests: XCTestCase {
    static let lossTolerance: Float = 0.02, logitTolerance: Float = 0.05, gradientTolerance: Float = 0.1, tensorTolerance: Float = 0.4

    /// One of each family and tweak: LeNet, CIFAR basic and bottleneck ResNets with B/C/D,
    /// ImageNet basic and bottleneck ResNets, MobileNet (depthwise), Inception-V3 (concat,
    /// asymmetric kernels, average pooling).
    static let families = ["lenet5", "cifar_resnet20", "cifar_resnet56d", "cifar_resnet18c", "resnet18", "resnet50b", "resnet50d",
                           "resnet101c", "mobilenet_v1", "mobilenet_v1_025", "inception_v3"]

    override func setUpWithError() throws {
        guard Autocast.isNative(.bfloat16, on: .cpu) else {
            throw XCTSkip("this CPU has no AVX-512 BF16 (or oneDNN is capped below it): bf16 is emulated here")
        }
    }

    static func size(_ name: String) -> Int { name == "lenet5" ? 28 : name == "inception_v3" ? 75 : name.hasPrefix("cifar_") ? 8 : 32 }

    func testEveryZooModelRunsInBFloat16() throws {
        for name in ModelZoo.names {
            let channels = name.hasPrefix("cifar_") || name == "lenet5" ? 1 : 3
            let model = try ModelZoo.make(name, classes: 5, inputChannels: channels)
            try model.initialize(.kaimingNormal, seed: 3)
            var generator = SeededGenerator(seed: 4)
            let x = try Tensor.randn([2, channels, Self.size(name), Self.size(name)], using: &generator)
            let loss = try Autocast.with(.bfloat16) {
                let loss = try crossEntropy(model(x), labels: [1, 3])
                try loss.backward()
                return try loss.item()
            }
            XCTAssertTrue(loss.isFinite, "\(name): loss \(loss)")
            for (key, p) in model.namedParameters() {
                XCTAssertEqual(p.grad?.dataType, .float32, "\(name) \(key): a Float32 gradient")
            }
        }
    }

    func testOneModelOfEachFamilyMatchesTheEmulation() throws {
        var worst: (Float, String) = (0, "")
        for name in Self.families {
            let error = try compare(name, training: false, size: Self.size(name))
            if error.0 > worst.0 { worst = error }
        }
        print("closest to its tolerance, inference mode: \(worst.1) (\(worst.0) of the tolerance)")
    }

    func testTrainingModeAgrees() throws {
        for name in ["cifar_resnet20", "cifar_resnet56d"] {
            _ = try compare(name, training: true, size: name.hasPrefix("cifar_") ? 16 : 64, batch: 8)
        }
    }

    /// Returns how close the model came to a tolerance (worst difference / tolerance) and where.
    func compare(_ name: String, training: Bool, size: Int, batch: Int = 2, file: StaticString = #filePath, line: UInt = #line) throws -> (Float, String) {
        let (classes, channels) = (5, name.hasPrefix("cifar_") || name == "lenet5" ? 1 : 3)
        var generator = SeededGenerator(seed: 4)
        let x = try Tensor.randn([batch, channels, size, size], using: &generator).converted(to: .bfloat16).converted(to: .float32)
        let labels = (0..<batch).map { $0 % classes }
        var runs: [(logits: [Float], loss: Float, grads: [(String, [Float])])] = []
        for path in [PrecisionPath.native(.bfloat16), .emulated(.bfloat16)] {
            let model = try ModelZoo.make(name, classes: classes, inputChannels: channels)
            try model.initialize(.xavierUniform, seed: 3, zeroGamma: true)
            for (_, p) in model.namedParameters() {
                // Branch-ending BN scales at 0.1 rather than zero-gamma's 0 (see BackendParityTests); bf16 values.
                let values = try p.scalars
                try p.assign(p.rank == 1 && values.allSatisfy { $0 == 0 } ? [Float](repeating: 0.1, count: p.count) : values.map { rounded($0, to: .bfloat16) })
            }
            if !training {
                var statistics = SeededGenerator(seed: 5)
                for _ in 0..<3 { _ = try GradMode.withoutGradient { try model(Tensor.randn([4, channels, size, size], using: &statistics)) } }
            }
            model.train(training)
            let (logits, loss) = try path.run {
                let logits = try model(x)
                let loss = try crossEntropy(logits, labels: labels)
                try loss.backward()
                return (logits, loss)
            }
            XCTAssertEqual(logits.dataType, .float32, "\(name): logits come out of the Float32 classifier", file: file, line: line)
            for (key, p) in model.namedParameters() where p.grad != nil {
                XCTAssertEqual(p.grad!.dataType, .float32, "\(name) \(key): parameter gradients are Float32", file: file, line: line)
            }
            let grads = try model.namedParameters().compactMap { key, p in try p.grad.map { (key, try $0.scalars) } }
            runs.append((try logits.scalars, try loss.item(), grads))
        }
        var worst: (Float, String) = (0, "")
        func check(_ what: String, _ a: [Float], _ b: [Float], _ tolerance: Float) {
            let norm = sqrt(b.reduce(0) { $0 + $1 * $1 }), difference = sqrt(zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
            let relative = norm > 1e-12 ? difference / norm : difference
            if relative / tolerance > worst.0 { worst = (relative / tolerance, "\(name) \(what): \(relative)") }
            XCTAssertLessThanOrEqual(relative, tolerance, "\(name) \(what): relative L2 difference \(relative)", file: file, line: line)
        }
        let (native, emulated) = (runs[0], runs[1])
        check("loss", [native.loss], [emulated.loss], Self.lossTolerance)
        check("logits", native.logits, emulated.logits, Self.logitTolerance)
        XCTAssertEqual(native.grads.map(\.0), emulated.grads.map(\.0), "\(name): the same parameters get gradients", file: file, line: line)
        check("all parameter gradients", native.grads.flatMap(\.1), emulated.grads.flatMap(\.1), Self.gradientTolerance)
        for ((key, a), (_, b)) in zip(native.grads, emulated.grads) { check("grad \(key)", a, b, Self.tensorTolerance) }
        return worst
    }
}
