import Models
import NN
import Tensors
import XCTest

/// Every zoo model on two backends: the CPU backend (oneDNN, blocked layouts) and the reference
/// backend (plain Swift loops). Same weights, same batch, training mode: the loss, the logits,
/// every parameter gradient and the updated BatchNorm statistics must agree. This is the test
/// a new backend (a GPU's) joins: it names the model, the tensor and the worst difference.
///
/// Tolerance: for each tensor, max |cpu - reference| <= tolerance * max |reference| (with 1e-6
/// as the floor of the scale). The two backends sum in different orders (oneDNN's blocked
/// kernels against plain loops), so Float32 rounding differs; 1e-3 of the tensor's largest
/// magnitude is far above that rounding and far below any wrong index, layout or formula.
/// Inputs are small (32x32, CIFAR models 8x8, Inception 75x75, batch 2) to keep the reference
/// backend's naive loops to seconds per model.
final class BackendParityTests: XCTestCase {
    static let tolerance: Float = 1e-3

    func inputSize(_ name: String) -> Int {
        name == "lenet5" ? 28 : name == "inception_v3" ? 75 : name.hasPrefix("cifar_") ? 8 : 32
    }

    func testEveryZooModelAgreesWithTheReferenceBackend() throws {
        for name in ModelZoo.names { try compare(name) }
    }

    func compare(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (classes, channels, size) = (5, name.hasPrefix("cifar_") || name == "lenet5" ? 1 : 3, inputSize(name))
        let cpu = try Device.with(.cpu) { try ModelZoo.make(name, classes: classes, inputChannels: channels) }
        try cpu.initialize(.kaimingNormal, seed: 3)
        let reference = try Device.with(.reference) { try ModelZoo.make(name, classes: classes, inputChannels: channels) }
        let cpuState = cpu.namedParameters() + cpu.namedBuffers(), referenceState = reference.namedParameters() + reference.namedBuffers()
        XCTAssertEqual(cpuState.map(\.0), referenceState.map(\.0), "\(name): state-dict keys", file: file, line: line)
        for ((_, source), (_, destination)) in zip(cpuState, referenceState) {
            XCTAssertEqual(destination.device, .reference)
            try destination.assign(source)
        }
        var generator = SeededGenerator(seed: 4)
        let x = try Tensor.randn([2, channels, size, size], using: &generator)
        var outputs: [(Tensor, Tensor)] = []
        for model in [cpu, reference] {
            let logits = try model(x.to(model.device))
            let loss = try crossEntropy(logits, labels: [1, 3])
            try loss.backward()
            outputs.append((logits, loss))
        }
        func check(_ what: String, _ a: Tensor, _ b: Tensor) throws {
            XCTAssertEqual(a.device, .cpu, file: file, line: line)
            XCTAssertEqual(b.device, .reference, file: file, line: line)
            let (x, y) = (try a.scalars, try b.scalars)
            let scale = max(y.map(abs).max() ?? 0, 1e-6)
            let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, Self.tolerance * scale, "\(name) \(what): differs by \(worst) (largest magnitude \(scale))",
                                     file: file, line: line)
        }
        try check("loss", outputs[0].1, outputs[1].1)
        try check("logits", outputs[0].0, outputs[1].0)
        for ((key, p), (_, q)) in zip(cpu.namedParameters(), reference.namedParameters()) {
            guard let g = p.grad, let h = q.grad else { XCTFail("\(name) \(key): no gradient", file: file, line: line); continue }
            try check("\(key) gradient", g, h)
        }
        for ((key, p), (_, q)) in zip(cpu.namedBuffers(), reference.namedBuffers()) { try check(key, p, q) }
    }
}
