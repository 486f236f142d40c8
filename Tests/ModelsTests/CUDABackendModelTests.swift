import Diagnostics
import Benchmarks
import Foundation
import Models
import NN
import Tensors
import XCTest

/// Whole zoo models on the CUDA backend, run here by its host emulation (no GPU): the same
/// weights and batch as on the CPU backend give the same loss, logits, gradients and batch-norm
/// statistics, and a model trained on `cuda` saves a checkpoint that loads on the CPU. On the
/// emulation, convolution, batch norm and the linear layer are the CPU backend's (they are
/// cuDNN's and cuBLAS's on a GPU, which `tricks selftest --device cuda` checks there); pooling,
/// ReLU, residual adds, concat, softmax and the loss are the backend's own kernels.
final class CUDABackendModelTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        CUDAHostEmulation.register()
        setenv("TRICKS_CUDA_EMULATION", "1", 1)
    }

    func testTrainingStepMatchesTheCPU() throws {
        // The well-conditioned models and sizes of `BackendParityTests`' training mode, and its tolerance.
        for (name, size) in [("cifar_resnet20", 16), ("cifar_resnet20d", 16), ("mobilenet_v1_025", 64), ("resnet18d", 64), ("lenet5", 28)] {
            let (cuda, cpu) = try ParityCheck.trainingStep(name, size: size, classes: 5, tested: .cuda, baseline: .cpu)
            XCTAssertEqual(cuda.device, .cuda, name)
            XCTAssertEqual(cpu.device, .cpu, name)
            XCTAssertEqual(cuda.gradients.map(\.name), cpu.gradients.map(\.name), name)
            let pairs = [("loss", cuda.loss, cpu.loss), ("logits", cuda.logits, cpu.logits)]
                + zip(cuda.gradients, cpu.gradients).map { ("gradient of \($0.name)", $0.values, $1.values) }
                + zip(cuda.buffers, cpu.buffers).map { ($0.name, $0.values, $1.values) }
            for (what, a, b) in pairs {
                XCTAssertEqual(a.count, b.count, "\(name): \(what)")
                let (worst, scale) = ParityCheck.difference(a, b)
                XCTAssertLessThanOrEqual(worst, BackendParityTests.tolerance * scale, "\(name): \(what) differs by \(worst)")
            }
        }
    }

    /// `tricks selftest`'s checks, the ones a GPU session runs, pass on the emulation: the
    /// harness itself is tested on every CI run.
    func testTheSelfTestPassesOnTheEmulation() throws {
        var lines: [String] = []
        var check = ParityCheck(tested: .cuda, baseline: .cpu) { lines.append($0) }
        try check.ops()
        try check.optimizer()
        try check.models()
        try check.checkpoint()
        XCTAssertGreaterThan(check.results.count, 100)
        XCTAssertEqual(check.results.filter { !$0.passed }.map(\.name), [], lines.filter { $0.hasPrefix("FAIL") }.joined(separator: "\n"))
    }

    func testACheckpointSavedOnCUDALoadsOnTheCPU() throws {
        let cuda = try Device.with(.cuda) { try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1) }
        try cuda.initialize(.kaimingNormal, seed: 7, zeroGamma: true)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cuda-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try cuda.save(to: file)
        let cpu = try Device.with(.cpu) { try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1) }
        try cpu.load(from: file)
        var generator = SeededGenerator(seed: 8)
        let x = try Tensor.randn([2, 1, 12, 12], using: &generator)
        cuda.train(false)
        cpu.train(false)
        let (a, b) = (try cuda(x.to(.cuda)).scalars, try cpu(x).scalars)
        for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5) }
    }
}
