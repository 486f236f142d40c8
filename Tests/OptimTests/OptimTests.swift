import Diagnostics
import Optim
import Tensors
import XCTest

final class SGDTests: XCTestCase {
    /// Three NAG steps with weight decay on one group and none on the other, against
    /// `torch.optim.SGD(..., lr=0.1, momentum=0.9, nesterov=True)` (PyTorch 2.15 printed these).
    func testNesterovStepsMatchPyTorch() throws {
        let w = try Tensor(shape: [3], scalars: [1, -2, 0.5], requiresGrad: true)
        let b = try Tensor(shape: [1], scalars: [0.3], requiresGrad: true)
        let sgd = try SGD(groups: [ParameterGroup(name: "decay", parameters: [("w", w)], weightDecay: 1e-2),
                               ParameterGroup(name: "no_decay", parameters: [("b", b)], weightDecay: 0)], momentum: 0.9, nesterov: true)
        let grads: [([Float], [Float])] = [([0.5, 0.25, -1], [2]), ([-0.5, 1, 0], [-1]), ([0.1, 0.1, 0.1], [0.5])]
        let expected: [([Float], [Float])] = [([0.903100014, -2.04369998, 0.689050019], [-0.0799999908]),
                                              ([0.955074131, -2.24844694, 0.768335819], [-0.0519999824]),
                                              ([0.936848998, -2.35928655, 0.819853365], [-0.211799979])]
        for (g, e) in zip(grads, expected) {
            w.grad = try Tensor(shape: [3], scalars: g.0)
            b.grad = try Tensor(shape: [1], scalars: g.1)
            try sgd.step(lr: 0.1)
            for (a, x) in zip(try w.scalars, e.0) { XCTAssertEqual(a, x, accuracy: 1e-6) }
            XCTAssertEqual(try b.scalars[0], e.1[0], accuracy: 1e-6)
        }
        XCTAssertEqual(try sgd.buffers.keys.sorted(), ["b", "w"])
    }

    func testParameterWithoutGradientIsLeftAlone() throws {
        let w = try Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
        try SGD(groups: [ParameterGroup(name: "all", parameters: [("w", w)], weightDecay: 0.1)]).step(lr: 1)
        XCTAssertEqual(try w.scalars, [1, 2])
    }

    func testLoadingBuffersChecksNamesAndSizes() throws {
        let w = try Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
        let sgd = try SGD(groups: [ParameterGroup(name: "all", parameters: [("w", w)], weightDecay: 0)])
        XCTAssertThrowsError(try sgd.loadBuffers(["v": [0, 0]]))
        XCTAssertThrowsError(try sgd.loadBuffers(["w": [0]]))
        try sgd.loadBuffers(["w": [0.5, 0.5]])
        XCTAssertEqual(try sgd.buffers["w"], [0.5, 0.5])
    }

    /// Parameters on the CUDA device (its host emulation here) take the fused kernel
    /// `sgd_step_f32`, with buffers and masters kept on the device: bit for bit the host loops'
    /// result, in Float32 and with bf16/fp16 masters, after a checkpoint's state is loaded too.
    func testDeviceStepEqualsTheHostLoopsBitForBit() throws {
        CUDAHostEmulation.register()
        setenv("TRICKS_CUDA_EMULATION", "1", 1)
        for precision in [DataType.float32, .bfloat16, .float16] {
            var generator = SeededGenerator(seed: 11)
            let start = try Tensor.randn([37], using: &generator).scalars, bias = try Tensor.randn([5], using: &generator).scalars
            var results: [[[Float]]] = []
            var saved: ([String: [Float]], [String: [Float]]) = ([:], [:])
            for device in [Device.cpu, .cuda] {
                let w = try Tensor(shape: [37], scalars: start, requiresGrad: true, device: device)
                let b = try Tensor(shape: [5], scalars: bias, requiresGrad: true, device: device)
                let groups = [ParameterGroup(name: "decay", parameters: [("w", w)], weightDecay: 5e-4),
                              ParameterGroup(name: "no_decay", parameters: [("b", b)], weightDecay: 0)]
                let sgd = try SGD(groups: groups, momentum: 0.9, nesterov: true, masterPrecision: precision)
                var g = SeededGenerator(seed: 12)
                for step in 0..<3 {
                    w.grad = try Tensor.randn([37], using: &g).to(device)
                    b.grad = try Tensor.randn([5], using: &g).to(device)
                    try sgd.step(lr: 0.1 / Double(step + 1), gradientScale: 0.5)
                }
                if device == .cpu { saved = (try sgd.buffers, try sgd.masters) }
                // The CPU run's state continued on this device: one more step each.
                let resumed = try SGD(groups: groups, momentum: 0.9, nesterov: true, masterPrecision: precision)
                try resumed.loadBuffers(saved.0, masters: saved.1)
                w.grad = try Tensor.full([37], 0.25, device: device)
                try resumed.step(lr: 0.05)
                results.append([try w.scalars, try b.scalars, try sgd.buffers["w"]!, try sgd.masters["w"] ?? [], try resumed.buffers["w"]!])
            }
            XCTAssertEqual(results[0], results[1], "\(precision)")
        }
    }
}

/// Two identical processes, seen from one of them: every sum is twice this process's values.
final class TwinProcesses: Collective, @unchecked Sendable {
    var rank: Int { 0 }
    var size: Int { 2 }
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws { for i in values.indices { values[i] *= 2 } }
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws { for i in values.indices { values[i] *= 2 } }
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
}

final class GradientAllreduceTests: XCTestCase {
    /// Gradients in host memory and in a GPU's (the CUDA backend's emulation here), in buckets
    /// smaller than one gradient and larger than all: each summed over the processes, in place.
    func testGradientsOnEveryDeviceAreSummed() throws {
        CUDAHostEmulation.register()
        setenv("TRICKS_CUDA_EMULATION", "1", 1)
        for device in [Device.cpu, .cuda] {
            for bucketMB in [0.00001, 25] {
                let values: [[Float]] = [(0..<300).map { Float($0) / 7 }, [1, -2, 3], (0..<50).map { -Float($0) }]
                let parameters = try values.map { v -> Tensor in
                    let p = try Tensor.zeros([v.count], requiresGrad: true, device: device)
                    p.grad = try Tensor(shape: [v.count], scalars: v, device: device)
                    return p
                }
                try allreduceGradients(parameters, collective: TwinProcesses(), bucketMB: bucketMB)
                for (p, v) in zip(parameters, values) {
                    XCTAssertEqual(p.grad?.device, device)
                    XCTAssertEqual(try p.grad!.scalars, v.map { 2 * $0 }, "\(device), bucket \(bucketMB) MB")
                }
            }
        }
    }
}

final class ScheduleTests: XCTestCase {
    func testStepDividesByTenAtMilestones() {
        let s = StepSchedule(base: 0.1, milestones: [30, 60, 90])
        XCTAssertEqual(s.rate(0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(29), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(30), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(60), 0.001, accuracy: 1e-12)
        XCTAssertEqual(s.rate(95), 0.0001, accuracy: 1e-12)
    }

    func testWarmupThenCosine() {
        // 5 warmup iterations to 0.4, then cosine over 10.
        let s = WarmupSchedule(iterations: 5, then: CosineSchedule(base: 0.4, total: 10))
        XCTAssertEqual(s.rate(0), 0.08, accuracy: 1e-12, "i = 1: 1 * eta / m")
        XCTAssertEqual(s.rate(4), 0.4, accuracy: 1e-12, "i = m: eta")
        XCTAssertEqual(s.rate(5), 0.4, accuracy: 1e-12, "cosine t = 0")
        XCTAssertEqual(s.rate(10), 0.2, accuracy: 1e-12, "cosine t = T/2: half")
        XCTAssertEqual(s.rate(15), 0, accuracy: 1e-12, "cosine t = T")
        XCTAssertEqual(s.rate(7), 0.5 * (1 + cos(Double.pi * 2 / 10)) * 0.4, accuracy: 1e-12)
    }

    func testConstant() { XCTAssertEqual(ConstantSchedule(0.3).rate(1000), 0.3) }
}
