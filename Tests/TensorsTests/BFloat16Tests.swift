import Tensors
import XCTest

/// Real bfloat16 arithmetic (`Autocast`) on the CPU backend against the reference backend's
/// Float32 loops with every result and gradient rounded to bf16 (`StoragePrecision`), from the
/// same bf16-valued inputs: each op's result and every input gradient. Both sides then round at
/// the same places, so they differ by about one bf16 step (2^-8 of a value) where the Float32
/// sums beneath differ in their last bits. Against unrounded Float32 a ReLU would not do: a
/// value within rounding of zero may take the other side, and its gradient with it. The
/// results must also really be bfloat16 (a Float32 path would pass the tolerance and be wrong
/// for memory and speed), and parameter gradients Float32. Skipped, with the reason, where
/// the CPU has no BF16 instructions.
final class BFloat16Tests: XCTestCase {
    /// Relative to the largest magnitude on the reference side: about four bf16 steps (measured
    /// worst 0.74%, a linear layer's weight gradient; a wrong kernel is off by the values themselves).
    let tolerance: Float = 1.5e-2

    override func setUpWithError() throws {
        guard Autocast.isNative(.bfloat16, on: .cpu) else {
            throw XCTSkip("this CPU has no AVX-512 BF16 (or oneDNN is capped below it): bfloat16 is emulated here, tested by TrainerTests")
        }
    }

    /// Runs `op` on the CPU under autocast and on the reference backend in Float32, with copies
    /// of `inputs` as Float32 leaves, and compares the result and the gradient of sum(result * R).
    /// `resultType` is what the CPU result must hold.
    func compare(_ what: String, _ inputs: [Tensor], resultType: DataType = .bfloat16, file: StaticString = #filePath,
                 line: UInt = #line, _ op: ([Tensor]) throws -> Tensor) throws {
        var results: [(Tensor, [Tensor?])] = []
        for device in [Device.cpu, .reference] {
            let xs = try inputs.map { t -> Tensor in
                let leaf = try Tensor(shape: t.shape, scalars: t.scalars.map { rounded($0, to: .bfloat16) }, device: device)
                leaf.requiresGrad = true
                return leaf
            }
            var generator = SeededGenerator(seed: 17)
            let path = device == .cpu ? PrecisionPath.native(.bfloat16) : .emulated(.bfloat16)
            let y = try path.run {
                let y = try op(xs)
                let r = try Tensor.randn(y.shape, using: &generator)
                try y.backward(gradient: Tensor(shape: r.shape, scalars: r.scalars.map { rounded($0, to: .bfloat16) }, device: device))
                return y
            }
            if device == .cpu { XCTAssertEqual(y.dataType, resultType, "\(what): result type", file: file, line: line) }
            results.append((y, xs.map(\.grad)))
        }
        func check(_ name: String, _ a: Tensor?, _ b: Tensor?) throws {
            guard let a, let b else { return XCTAssertTrue(a == nil && b == nil, "\(what) \(name): gradient on one side only", file: file, line: line) }
            let (x, y) = (try a.scalars, try b.scalars)
            let scale = max(y.map(abs).max() ?? 0, 1e-6)
            let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, tolerance * scale, "\(what) \(name): differs by \(worst) (scale \(scale))", file: file, line: line)
        }
        try check("forward", results[0].0, results[1].0)
        for i in inputs.indices {
            XCTAssertEqual(results[0].1[i]?.dataType, .float32, "\(what) gradient \(i): a Float32 leaf gets a Float32 gradient", file: file, line: line)
            try check("gradient \(i)", results[0].1[i], results[1].1[i])
        }
    }

    func random(_ shape: [Int], _ seed: UInt64) throws -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return try Tensor.uniform(shape, low: -1, high: 1, using: &generator)
    }

    func testConvolutionsComputeInBFloat16() throws {
        let cases: [(String, [Int], [Int], (Int, Int), (Int, Int), (Int, Int), Int, Bool)] = [
            ("3x3 pad 1 bias", [2, 16, 7, 6], [32, 16, 3, 3], (1, 1), (1, 1), (1, 1), 1, true),
            ("stride 2", [2, 3, 9, 9], [16, 3, 3, 3], (2, 2), (1, 1), (1, 1), 1, false),
            ("7x7 stem", [1, 3, 16, 16], [16, 3, 7, 7], (2, 2), (3, 3), (1, 1), 1, false),
            ("1x1", [2, 64, 5, 5], [32, 64, 1, 1], (1, 1), (0, 0), (1, 1), 1, false),
            ("depthwise", [2, 16, 6, 6], [16, 1, 3, 3], (1, 1), (1, 1), (1, 1), 16, false),
            ("dilation 2", [1, 16, 9, 9], [16, 16, 3, 3], (1, 1), (2, 2), (2, 2), 1, false),
            // cifar_resnet20d's deep stem: under 16 channels the weight gradient takes NHWC (the
            // only direct bf16 kernel there; the free choice is im2col-gemm).
            ("3->8 small deep stem", [2, 3, 8, 8], [8, 3, 3, 3], (1, 1), (1, 1), (1, 1), 1, false),
            ("8->8 small deep stem", [2, 8, 8, 8], [8, 8, 3, 3], (1, 1), (1, 1), (1, 1), 1, false),
            ("8->8 bias", [2, 8, 7, 6], [8, 8, 3, 3], (1, 1), (1, 1), (1, 1), 1, true),
            ("8->16", [2, 8, 8, 8], [16, 8, 3, 3], (1, 1), (1, 1), (1, 1), 1, false),
        ]
        for (name, xs, ws, stride, padding, dilation, groups, bias) in cases {
            let inputs = try [random(xs, 1), random(ws, 2)] + (bias ? [random([ws[0]], 3)] : [])
            try compare("conv2d \(name)", inputs) { t in
                try conv2d(t[0], weight: t[1], bias: t.count > 2 ? t[2] : nil, stride: stride, padding: padding, dilation: dilation, groups: groups)
            }
        }
    }

    /// What follows a convolution keeps bfloat16: batch norm (Float32 statistics), ReLU,
    /// pooling, the residual add, concat.
    func testOpsAfterAConvolutionKeepBFloat16() throws {
        func convolved(_ t: [Tensor]) throws -> Tensor { try conv2d(t[0], weight: t[1], padding: (1, 1)) }
        let inputs = try [random([2, 8, 6, 6], 4), random([16, 8, 3, 3], 5)]
        for (training, fused) in [(true, false), (true, true), (false, true)] {
            try compare("batch_norm training \(training) relu \(fused)", inputs + [random([16], 6), random([16], 7)]) { t in
                let device = t[0].device
                return try batchNorm(convolved(t), weight: t[2], bias: t[3], runningMean: Tensor.zeros([16], device: device),
                                     runningVar: Tensor.full([16], 1.5, device: device), training: training, fusedReLU: fused)
            }
        }
        try compare("relu", inputs) { try relu(convolved($0)) }
        try compare("max pool", inputs) { try maxPool2d(convolved($0), kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        try compare("global average pool", inputs) { try globalAvgPool2d(convolved($0)) }
        try compare("add_relu", inputs) { t in let y = try convolved(t); return try addReLU(y, relu(y)) }
        try compare("add", inputs) { t in let y = try convolved(t); return try add(y, relu(y)) }
        try compare("concat", inputs) { t in let y = try convolved(t); return try concat([y, relu(y)]) }
    }

    /// Batch norm on channels that are not a multiple of 16 after a convolution that leaves an
    /// unblocked layout (the ResNet-C/-D stem's 8-channel convs): the backend reblocks the
    /// input to nChw16c for oneDNN's JIT kernel; padding channels must not leak into anything.
    func testBatchNormOnEightChannelsAfterAStemConvolution() throws {
        let inputs = try [random([4, 3, 9, 9], 11), random([8, 3, 3, 3], 12), random([8], 13), random([8], 14)]
        for (training, fused) in [(true, false), (true, true), (false, false)] {
            try compare("stem batch_norm training \(training) relu \(fused)", inputs) { t in
                let device = t[0].device
                return try batchNorm(conv2d(t[0], weight: t[1], stride: (2, 2), padding: (1, 1)), weight: t[2], bias: t[3],
                                     runningMean: Tensor.full([8], 0.1, device: device), runningVar: Tensor.full([8], 1.5, device: device),
                                     training: training, fusedReLU: fused)
            }
        }
    }

    /// MobileNet's unit: depthwise 3x3 (oneDNN's blocked jit_dw kernel) -> BN -> ReLU ->
    /// pointwise 1x1 (an NHWC kernel) -> BN -> ReLU, in training mode.
    func testDepthwiseSeparableUnitInTrainingMode() throws {
        let inputs = try [random([4, 16, 8, 8], 30), random([16, 1, 3, 3], 31), random([16], 32), random([16], 33),
                          random([32, 16, 1, 1], 34), random([32], 35), random([32], 36)]
        try compare("depthwise separable", inputs) { t in
            let device = t[0].device
            let d = try conv2d(t[0], weight: t[1], padding: (1, 1), groups: 16)
            let a = try batchNorm(d, weight: t[2], bias: t[3], runningMean: Tensor.zeros([16], device: device),
                                  runningVar: Tensor.full([16], 1, device: device), training: true, fusedReLU: true)
            let p = try conv2d(a, weight: t[4])
            return try batchNorm(p, weight: t[5], bias: t[6], runningMean: Tensor.zeros([32], device: device),
                                 runningVar: Tensor.full([32], 1, device: device), training: true, fusedReLU: true)
        }
        try compare("depthwise -> bn", Array(inputs.prefix(4))) { t in
            let device = t[0].device
            let d = try conv2d(t[0], weight: t[1], padding: (1, 1), groups: 16)
            return try batchNorm(d, weight: t[2], bias: t[3], runningMean: Tensor.zeros([16], device: device),
                                 runningVar: Tensor.full([16], 1, device: device), training: true, fusedReLU: false)
        }
        try compare("1x1 -> bn relu", [inputs[0], inputs[4], inputs[5], inputs[6]]) { t in
            let device = t[0].device
            let p = try conv2d(t[0], weight: t[1])
            return try batchNorm(p, weight: t[2], bias: t[3], runningMean: Tensor.zeros([32], device: device),
                                 runningVar: Tensor.full([32], 1, device: device), training: true, fusedReLU: true)
        }
        try compare("depthwise alone stride 2", Array(inputs.prefix(2))) { t in
            try conv2d(t[0], weight: t[1], stride: (2, 2), padding: (1, 1), groups: 16)
        }
    }

    /// The classifier and the loss run in Float32 on bfloat16 features, as under PyTorch's autocast.
    func testClassifierAndLossStayFloat32() throws {
        let inputs = try [random([4, 8, 4, 4], 8), random([16, 8, 3, 3], 9), random([10, 16], 10), random([4, 10], 11)]
        try compare("conv -> pool -> linear", Array(inputs.prefix(3)), resultType: .float32) { t in
            let features = try flatten(globalAvgPool2d(conv2d(t[0], weight: t[1], padding: (1, 1))))
            return try linear(features, weight: t[2])
        }
        try compare("conv -> pool -> linear -> cross_entropy", inputs, resultType: .float32) { t in
            let features = try flatten(globalAvgPool2d(conv2d(t[0], weight: t[1], padding: (1, 1))))
            return try crossEntropy(linear(features, weight: t[2]), target: t[3])
        }
    }

    /// Without autocast nothing changes type; a bfloat16 tensor given to a Float32-only op is
    /// cast on the tape, so its gradient comes back bfloat16.
    func testCastsAreRecorded() throws {
        let x = try random([2, 3], 12)
        x.requiresGrad = true
        let y = try x.cast(to: .bfloat16)
        XCTAssertEqual(y.dataType, .bfloat16)
        let z = try scale(y, by: 2)
        XCTAssertEqual(z.dataType, .float32)
        try sum(z).backward()
        XCTAssertEqual(x.grad?.dataType, .float32)
        XCTAssertEqual(try x.grad!.scalars, [Float](repeating: 2, count: 6))
        let plain = try conv2d(random([1, 4, 5, 5], 13), weight: random([4, 4, 3, 3], 14))
        XCTAssertEqual(plain.dataType, .float32, "no autocast, no bfloat16")
    }
}
