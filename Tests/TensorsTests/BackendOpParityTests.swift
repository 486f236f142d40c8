import Tensors
import XCTest

/// Each op on the CPU backend (oneDNN) against the reference backend (plain loops), forward and
/// every input gradient, for the settings the zoo uses and the edges around them (groups,
/// dilation, stride, padding, ceil mode, fused ReLU, blocked inputs). `BackendParityTests`
/// then does the same for whole models. Tolerance as there: 1e-3 of the largest magnitude.
///
/// The CUDA backend is held to the reference the same way, op by op, through its host
/// emulation (`CUDAHostEmulation`: its own kernels compiled for this CPU; cuDNN's and cuBLAS's
/// ops by the CPU backend), since the machines that run these tests have no GPU.
final class BackendOpParityTests: XCTestCase {
    /// The backends each op is compared on, each against the reference.
    static let pairs: [[Device]] = [[.cpu, .reference], [.cuda, .reference]]

    override class func setUp() {
        super.setUp()
        useCUDAEmulation()
    }

    func compare(_ what: String, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line,
                 _ op: ([Tensor]) throws -> Tensor) throws {
        for pair in Self.pairs { try compare("\(what) on \(pair[0])", inputs, devices: pair, file: file, line: line, op) }
    }

    /// Runs `op` on both devices with copies of `inputs` and compares the result and the
    /// gradient of sum(result * R) for a fixed random R with respect to every input.
    func compare(_ what: String, _ inputs: [Tensor], devices: [Device], file: StaticString = #filePath, line: UInt = #line,
                 _ op: ([Tensor]) throws -> Tensor) throws {
        var results: [(Tensor, [Tensor?])] = []
        for device in devices {
            let xs = try inputs.map { t -> Tensor in
                let leaf = try Tensor(shape: t.shape, scalars: t.scalars, device: device)
                leaf.requiresGrad = true
                return leaf
            }
            let y = try op(xs)
            XCTAssertEqual(y.device, device, "\(what): result device", file: file, line: line)
            var generator = SeededGenerator(seed: 17)
            try y.backward(gradient: Tensor.randn(y.shape, using: &generator).to(device))
            results.append((y, xs.map(\.grad)))
        }
        func check(_ name: String, _ a: Tensor?, _ b: Tensor?) throws {
            guard let a, let b else { return XCTAssertTrue(a == nil && b == nil, "\(what) \(name): gradient on one side only", file: file, line: line) }
            let (x, y) = (try a.scalars, try b.scalars)
            XCTAssertEqual(x.count, y.count, file: file, line: line)
            let scale = max(y.map(abs).max() ?? 0, 1e-6)
            let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-3 * scale, "\(what) \(name): differs by \(worst) (scale \(scale))", file: file, line: line)
        }
        try check("forward", results[0].0, results[1].0)
        for i in inputs.indices { try check("gradient \(i)", results[0].1[i], results[1].1[i]) }
    }

    func random(_ shape: [Int], _ seed: UInt64) throws -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return try Tensor.uniform(shape, low: -1, high: 1, using: &generator)
    }

    func testConvolutions() throws {
        let cases: [(String, [Int], [Int], (Int, Int), (Int, Int), (Int, Int), Int, Bool)] = [
            ("3x3 pad 1", [2, 5, 7, 6], [4, 5, 3, 3], (1, 1), (1, 1), (1, 1), 1, true),
            ("stride 2", [2, 3, 9, 9], [8, 3, 3, 3], (2, 2), (1, 1), (1, 1), 1, false),
            ("7x7 stem", [1, 3, 16, 16], [8, 3, 7, 7], (2, 2), (3, 3), (1, 1), 1, false),
            ("1x1", [2, 16, 5, 5], [8, 16, 1, 1], (1, 1), (0, 0), (1, 1), 1, false),
            ("depthwise", [2, 8, 6, 6], [8, 1, 3, 3], (1, 1), (1, 1), (1, 1), 8, false),
            ("groups 2", [1, 6, 5, 5], [4, 3, 3, 3], (1, 1), (1, 1), (1, 1), 2, true),
            ("dilation 2", [1, 4, 9, 9], [4, 4, 3, 3], (1, 1), (2, 2), (2, 2), 1, false),
            ("1x7 and 7x1", [1, 4, 8, 8], [4, 4, 1, 7], (1, 1), (0, 3), (1, 1), 1, false),
        ]
        for (name, xs, ws, stride, padding, dilation, groups, bias) in cases {
            let inputs = try [random(xs, 1), random(ws, 2)] + (bias ? [random([ws[0]], 3)] : [])
            try compare("conv2d \(name)", inputs) { t in
                try conv2d(t[0], weight: t[1], bias: t.count > 2 ? t[2] : nil, stride: stride, padding: padding, dilation: dilation, groups: groups)
            }
        }
    }

    func testBatchNormTrainingAndInference() throws {
        for (training, relu) in [(true, false), (true, true), (false, false), (false, true)] { for pair in Self.pairs {
            var statistics: [[Float]] = []
            for device in pair {
                let mean = try Tensor(shape: [6], scalars: (0..<6).map { Float($0) * 0.1 }, device: device)
                let variance = try Tensor(shape: [6], scalars: (0..<6).map { 1 + Float($0) * 0.2 }, device: device)
                _ = try batchNorm(random([3, 6, 4, 5], 4).to(device), weight: random([6], 5).to(device), bias: random([6], 6).to(device),
                                  runningMean: mean, runningVar: variance, training: training, fusedReLU: relu)
                statistics.append(try mean.scalars + variance.scalars)
            }
            for (a, b) in zip(statistics[0], statistics[1]) { XCTAssertEqual(a, b, accuracy: 1e-5, "running statistics on \(pair[0]), training \(training)") }
            try compare("batch_norm training \(training) relu \(relu)", [random([3, 6, 4, 5], 4), random([6], 5), random([6], 6)], devices: pair) { t in
                let device = t[0].device
                return try batchNorm(t[0], weight: t[1], bias: t[2], runningMean: Tensor.zeros([6], device: device),
                                     runningVar: Tensor.full([6], 1.5, device: device), training: training, fusedReLU: relu)
            }
        } }
    }

    func testPooling() throws {
        // Distinct values, so that no two taps of a max window tie.
        let values: [Float] = (0..<486).map { i in Float((i * 37) % 486) / 100 - 2 }
        let x = try Tensor(shape: [2, 3, 9, 9], scalars: values)
        try compare("max 3x3 s2 p1", [x]) { try maxPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        try compare("max ceil", [x]) { try maxPool2d($0[0], kernel: (2, 2), stride: (2, 2), ceilMode: true) }
        try compare("max dilation 2", [x]) { try maxPool2d($0[0], kernel: (2, 2), stride: (1, 1), dilation: (2, 2)) }
        try compare("avg 3x3 s1 p1 include pad", [x]) { try avgPool2d($0[0], kernel: (3, 3), stride: (1, 1), padding: (1, 1)) }
        try compare("avg 2x2 ceil exclude pad", [x]) { try avgPool2d($0[0], kernel: (2, 2), stride: (2, 2), ceilMode: true, countIncludePad: false) }
        try compare("global avg", [x]) { try globalAvgPool2d($0[0]) }
    }

    func testLinearConcatAndElementwise() throws {
        try compare("linear", [random([3, 7], 7), random([4, 7], 8), random([4], 9)]) { try linear($0[0], weight: $0[1], bias: $0[2]) }
        try compare("concat channels", [random([2, 3, 4, 4], 10), random([2, 5, 4, 4], 11)]) { try concat($0, axis: 1) }
        try compare("add_relu", [random([2, 3, 4, 4], 12), random([2, 3, 4, 4], 13)]) { try addReLU($0[0], $0[1]) }
        try compare("relu", [random([2, 3, 4, 4], 14)]) { try relu($0[0]) }
        try compare("relu6", [scale(random([2, 3, 4, 4], 19), by: 8)]) { try relu6($0[0]) }
        try compare("scale", [random([2, 3], 19)]) { try scale($0[0], by: -1.5) }
        try compare("log_softmax", [random([3, 5], 19)]) { try logSoftmax($0[0]) }
        try compare("concat of three", [random([2, 3, 4], 10), random([2, 1, 4], 11), random([2, 2, 4], 12)]) { try concat($0, axis: 1) }
        try compare("multiply", [random([2, 3], 15), random([2, 3], 16)]) { try multiply($0[0], $0[1]) }
        try compare("cross_entropy", [random([3, 5], 17), random([3, 5], 18)]) { try crossEntropy($0[0], target: $0[1]) }
    }

    /// Faster R-CNN's ops: the FPN's nearest resize (exact 2x and the odd sizes of a padded
    /// batch's coarse levels) and RoIAlign (fixed and adaptive sampling, a box past the border,
    /// regions of both images), from blocked convolution outputs too.
    func testDetectionOps() throws {
        try compare("upsample_nearest2d 2x", [random([2, 3, 4, 5], 20)]) { try upsampleNearest2d($0[0], size: (8, 10)) }
        try compare("upsample_nearest2d odd", [random([2, 3, 7, 9], 21)]) { try upsampleNearest2d($0[0], size: (13, 17)) }
        let geometry = RoIAlignGeometry(boxes: [1, 2, 20, 17, -3, 0, 9, 30, 5, 5, 6, 6, 0, 0, 40, 28], batchIndices: [0, 1, 1, 0],
                                        outputSize: (7, 7), spatialScale: 0.25, samplingRatio: 2)
        try compare("roi_align", [random([2, 4, 7, 10], 22)]) { try roiAlign($0[0], geometry) }
        var adaptive = geometry
        adaptive.samplingRatio = 0
        try compare("roi_align adaptive", [random([2, 4, 7, 10], 23)]) { try roiAlign($0[0], adaptive) }
        let selection = LossSelection(targets: (0..<24).map { Float($0 % 3) / 2 }, weights: (0..<24).map { $0 % 4 == 0 ? 0 : 1 }, divisor: 18)
        try compare("binary_cross_entropy_with_logits", [scale(random([4, 6], 26), by: 4)]) { try binaryCrossEntropyWithLogits($0[0], selection) }
        try compare("smooth_l1_loss", [random([6, 4], 27)]) { try smoothL1Loss($0[0], selection, beta: 1.0 / 9) }
        let weight = try random([8, 4, 3, 3], 24)
        try compare("roi_align after conv", [random([2, 4, 7, 10], 25)]) { x in
            try roiAlign(conv2d(x[0], weight: weight.to(x[0].device), bias: nil, stride: (1, 1), padding: (1, 1)), geometry)
        }
    }

    /// NMS keeps the same boxes in the same order on every backend: overlapping clusters, tied
    /// scores (kept in index order), a box of no area, and thresholds that keep all or one per cluster.
    func testNonMaximumSuppression() throws {
        var generator = SeededGenerator(seed: 31)
        var boxes: [Float] = [], scores: [Float] = []
        for cluster in 0..<12 {
            let (cx, cy) = (Float(cluster % 4) * 30, Float(cluster / 4) * 30)
            for _ in 0..<6 {
                let (x, y) = (cx + Float.random(in: 0...6, using: &generator), cy + Float.random(in: 0...6, using: &generator))
                boxes += [x, y, x + Float.random(in: 8...20, using: &generator), y + Float.random(in: 8...20, using: &generator)]
                scores.append(Float(Int.random(in: 0..<10, using: &generator)) / 10)  // many ties
            }
        }
        boxes += [5, 5, 5, 9]
        scores.append(0.95)
        for threshold: Float in [0, 0.3, 0.5, 0.7, 1] {
            var kept: [[Int]] = []
            for device in [Device.reference, .cpu, .cuda] {
                kept.append(try nonMaximumSuppression(Tensor(shape: [scores.count, 4], scalars: boxes, device: device),
                                                      scores: Tensor(shape: [scores.count], scalars: scores, device: device), threshold: threshold))
            }
            XCTAssertEqual(kept[1], kept[0], "cpu at IoU \(threshold)")
            XCTAssertEqual(kept[2], kept[0], "cuda at IoU \(threshold)")
            XCTAssertTrue(zip(kept[0], kept[0].dropFirst()).allSatisfy { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) },
                          "highest score first, ties in index order")
            if threshold == 1 { XCTAssertEqual(kept[0].count, scores.count, "nothing overlaps by more than 1") }
            if threshold == 0.3 { XCTAssertLessThan(kept[0].count, scores.count / 2, "the clusters are thinned") }
        }
        XCTAssertThrowsError(try nonMaximumSuppression(Tensor.zeros([3, 5]), scores: Tensor.zeros([3]), threshold: 0.5)) {
            XCTAssertTrue("\($0)".contains("boxes must be [K, 4]"), "\($0)")
        }
    }

    /// Blocked CPU layouts (what convolutions hand on) meet the same ops as plain ones.
    func testBlockedInputsMatchTheReference() throws {
        try compare("conv -> bn -> relu -> add", [random([2, 5, 6, 6], 20), random([8, 5, 3, 3], 21), random([8], 22), random([8], 23)]) { t in
            let device = t[0].device
            let y = try conv2d(t[0], weight: t[1], padding: (1, 1))
            let z = try batchNorm(y, weight: t[2], bias: t[3], runningMean: Tensor.zeros([8], device: device),
                                  runningVar: Tensor.full([8], 1, device: device), training: true, fusedReLU: true)
            return try addReLU(z, maxPool2d(y, kernel: (3, 3), stride: (1, 1), padding: (1, 1)))
        }
    }

    /// The last stage of a bottleneck ResNet at a small input: 8 values per BatchNorm channel.
    func testSmallSpatialBottleneck() throws {
        try compare("1x1 conv -> bn (2x2, batch 2)", [random([2, 32, 2, 2], 24), random([64, 32, 1, 1], 25), random([64], 26), random([64], 27)]) { t in
            let device = t[0].device
            let y = try conv2d(t[0], weight: t[1])
            return try batchNorm(y, weight: t[2], bias: t[3], runningMean: Tensor.zeros([64], device: device),
                                 runningVar: Tensor.full([64], 1, device: device), training: true, fusedReLU: true)
        }
        try compare("1x1 conv 256 -> 64 (2x2)", [random([2, 256, 2, 2], 28), random([64, 256, 1, 1], 29)]) { t in
            try conv2d(t[0], weight: t[1])
        }
        try compare("bottleneck shape: x -> 1x1 -> 3x3 -> 1x1, + x", [random([2, 256, 2, 2], 28), random([64, 256, 1, 1], 29),
                                                                    random([64, 64, 3, 3], 30), random([256, 64, 1, 1], 31)]) { t in
            let a = try relu(conv2d(t[0], weight: t[1]))
            let b = try relu(conv2d(a, weight: t[2], padding: (1, 1)))
            return try addReLU(conv2d(b, weight: t[3]), t[0])
        }
        try compare("bn alone (2x2, batch 2)", [random([2, 64, 2, 2], 24), random([64], 26), random([64], 27)]) { t in
            let device = t[0].device
            return try batchNorm(t[0], weight: t[1], bias: t[2], runningMean: Tensor.zeros([64], device: device),
                                 runningVar: Tensor.full([64], 1, device: device), training: true, fusedReLU: false)
        }
    }

    func testOpsRefuseTensorsOnTwoDevices() throws {
        let a = try Tensor.zeros([2, 3], device: .cpu), b = try Tensor.zeros([2, 3], device: .reference)
        XCTAssertThrowsError(try add(a, b)) { error in
            XCTAssertTrue("\(error)".contains("different devices: cpu"), "\(error)")
        }
        XCTAssertEqual(try add(a, b.to(.cpu)).device, .cpu)
    }
}
