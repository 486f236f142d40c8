import Data
import Foundation
import Models
import NN
import Optim
import Tensors
import Train
import XCTest

/// Each trick against numbers worked out by hand from the paper's formulas.
final class TricksTests: XCTestCase {
    func testLinearScalingAndWarmupCosineRates() {
        var c = TrainConfig()
        c.batchSize = 1024
        c.learningRate = .per256(0.1)
        c.epochs = 10
        c.warmupEpochs = 2
        c.schedule = .cosine
        XCTAssertEqual(c.effectiveLR, 0.4, accuracy: 1e-12, "0.1 x 1024 / 256")
        let s = c.learningRateSchedule(iterationsPerEpoch: 100)
        XCTAssertEqual(s.rate(0), 0.4 / 200, accuracy: 1e-12, "warmup i = 1 of 200")
        XCTAssertEqual(s.rate(99), 0.2, accuracy: 1e-12, "halfway through warmup")
        XCTAssertEqual(s.rate(199), 0.4, accuracy: 1e-12, "end of warmup")
        XCTAssertEqual(s.rate(600), 0.2, accuracy: 1e-12, "cosine halfway through the 800 iterations after warmup")
        c.schedule = .step
        c.warmupEpochs = 0
        c.milestones = [3, 6]
        let step = c.learningRateSchedule(iterationsPerEpoch: 100)
        XCTAssertEqual(step.rate(299), 0.4, accuracy: 1e-12)
        XCTAssertEqual(step.rate(300), 0.04, accuracy: 1e-12)
        XCTAssertEqual(step.rate(600), 0.004, accuracy: 1e-12)
    }

    func testLabelSmoothingBothFormulas() throws {
        let paper = try smoothedTargets([3], classes: 10, eps: 0.1, formula: .paper)
        XCTAssertEqual(paper[3], 0.9, accuracy: 1e-7)
        XCTAssertEqual(paper[0], Float(0.1 / 9), accuracy: 1e-7)
        let timm = try smoothedTargets([3], classes: 10, eps: 0.1, formula: .timm)
        XCTAssertEqual(timm[3], 0.91, accuracy: 1e-7)
        XCTAssertEqual(timm[7], 0.01, accuracy: 1e-7)
        XCTAssertEqual(Double(paper.reduce(0, +)), 1, accuracy: 1e-6)
        XCTAssertEqual(Double(timm.reduce(0, +)), 1, accuracy: 1e-6)
        XCTAssertEqual(try smoothedTargets([1, 0], classes: 2, eps: 0), [0, 1, 1, 0])
    }

    func testBetaSamplerMoments() {
        var rng = SeededGenerator(seed: 11)
        for (a, b) in [(0.2, 0.2), (2.0, 5.0), (1.0, 1.0)] {
            let samples = (0..<100_000).map { _ in sampleBeta(alpha: a, beta: b, using: &rng) }
            let mean = samples.reduce(0, +) / Double(samples.count)
            let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count)
            XCTAssertEqual(mean, a / (a + b), accuracy: 0.005, "Beta(\(a), \(b)) mean")
            XCTAssertEqual(variance, a * b / ((a + b) * (a + b) * (a + b + 1)), accuracy: 0.004, "Beta(\(a), \(b)) variance")
            XCTAssertTrue(samples.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    func testMixupMixesImagesAndTargetsWithOneLambda() throws {
        var rng = SeededGenerator(seed: 3)
        let images = try Tensor(shape: [4, 1, 1, 2], scalars: [0, 0, 1, 1, 2, 2, 3, 3])
        let targets = try smoothedTargets([0, 1, 2, 3], classes: 4, eps: 0.1)
        let (mixed, mixedTargets, lambda) = try Mixup(alpha: 0.2)(images: images, targets: targets, rng: &rng)
        for row in 0..<4 { XCTAssertEqual(Double(mixedTargets[row * 4 ..< row * 4 + 4].reduce(0, +)), 1, accuracy: 1e-6) }
        // Each mixed image is lambda x_i + (1 - lambda) x_j for some j: recover j from the pixel.
        let pixels = try mixed.scalars
        for i in 0..<4 {
            let j = (Double(pixels[2 * i]) - lambda * Double(i)) / (1 - lambda)
            XCTAssertEqual(j, j.rounded(), accuracy: 1e-4, "image \(i) mixes with a whole index")
            let jj = Int(j.rounded())
            XCTAssertEqual(Double(mixedTargets[i * 4 + i]), lambda * 0.9 + (1 - lambda) * (jj == i ? 0.9 : 0.1 / 3), accuracy: 1e-5)
        }
    }

    /// z = [1, 0], r = [0, 1], p = [1, 0], T = 2, weight 1:
    /// CE(p, z) = log(1 + e^-1); softmax(r/T) = [1/(1+e^0.5), e^0.5/(1+e^0.5)] = [q0, q1];
    /// KL(q || softmax(z/T)) = sum q log(q / s) with s = softmax([0.5, 0]); loss = CE(p, z) + 4 KL.
    func testDistillationLossByHand() throws {
        let z = try Tensor(shape: [1, 2], scalars: [1, 0]), r = try Tensor(shape: [1, 2], scalars: [0, 1])
        let p = try Tensor(shape: [1, 2], scalars: [1, 0])
        let loss = try distillationLoss(student: z, teacher: r, targets: p, temperature: 2).item()
        let hard = log(1 + exp(-1.0))
        let q1 = exp(0.5) / (1 + exp(0.5)), q0 = 1 - q1
        let s0 = exp(0.5) / (1 + exp(0.5)), s1 = 1 - s0
        let kl = q0 * log(q0 / s0) + q1 * log(q1 / s1)
        XCTAssertEqual(Double(loss), hard + 4 * kl, accuracy: 1e-5)
    }

    /// A student that matches its teacher pays nothing for the soft term, even at T = 20 with a
    /// nearly flat teacher (where the paper's cross-entropy form would add about T^2 log K, here
    /// 400 log 3), and its gradient is the hard term's alone: the teacher's entropy is a constant.
    func testDistillationSoftTermIsZeroWhenStudentMatchesTeacher() throws {
        let logits: [Float] = [2, -1, 0.5, 0, 3, -2]
        let p = try Tensor(shape: [2, 3], scalars: [1, 0, 0, 0, 0, 1])
        let r = try Tensor(shape: [2, 3], scalars: logits)
        let z = try Tensor(shape: [2, 3], scalars: logits, requiresGrad: true)
        let loss = try distillationLoss(student: z, teacher: r, targets: p, temperature: 20)
        let zHard = try Tensor(shape: [2, 3], scalars: logits, requiresGrad: true)
        let hard = try crossEntropy(zHard, target: p)
        XCTAssertEqual(try loss.item(), try hard.item(), accuracy: 1e-4)
        try loss.backward()
        try hard.backward()
        for (a, b) in zip(try z.grad!.scalars, try zHard.grad!.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    /// With zero gradients, one step without momentum leaves biases and BN parameters alone and
    /// shrinks decayed weights by exactly lr * wd * w.
    func testNoBiasDecayGroups() throws {
        let model = try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1)
        try model.initialize(seed: 1)
        let parameters = model.namedParameters()
        let groups = parameterGroups(parameters, weightDecay: 0.01, noBiasDecay: true)
        XCTAssertEqual(groups.map(\.name), ["decay", "no_decay"])
        XCTAssertTrue(groups[0].parameters.allSatisfy { $0.0.hasSuffix("weight") && $0.1.rank > 1 })
        XCTAssertTrue(groups[1].parameters.contains { $0.0 == "fc.bias" } && groups[1].parameters.contains { $0.0 == "bn1.weight" })
        let before = Dictionary(uniqueKeysWithValues: try parameters.map { ($0.0, try $0.1.scalars) })
        for (_, p) in parameters { p.grad = try Tensor.zeros(p.shape) }
        try SGD(groups: groups, momentum: 0).step(lr: 0.5)
        for (name, p) in parameters {
            let after = try p.scalars, old = before[name]!
            if p.rank > 1 {
                for (a, w) in zip(after, old) { XCTAssertEqual(a, w - 0.5 * 0.01 * w, accuracy: 1e-7) }
            } else {
                XCTAssertEqual(after, old, name)
            }
        }
    }

    /// With zero-gamma, a residual block with an identity shortcut computes relu(x): on the
    /// non-negative output of the layer before, the identity.
    func testZeroGammaBlocksStartAsTheIdentity() throws {
        let model = try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1)
        try model.initialize(seed: 2, zeroGamma: true)
        let block = try XCTUnwrap(Dictionary(uniqueKeysWithValues: model.namedModules())["layer1.1"])
        var rng = SeededGenerator(seed: 4)
        let x = try relu(Tensor.randn([2, 16, 7, 7], using: &rng))
        XCTAssertEqual(try block(x).scalars, try x.scalars)
    }

    func testLossScalerHalvesSkipsAndGrows() {
        var scaler = DynamicLossScaler(scale: 65536, growthInterval: 3)
        XCTAssertFalse(scaler.update(gradientsFinite: false))
        XCTAssertEqual(scaler.scale, 32768)
        XCTAssertEqual(scaler.skippedSteps, 1)
        XCTAssertTrue(scaler.update(gradientsFinite: true))
        XCTAssertTrue(scaler.update(gradientsFinite: true))
        XCTAssertEqual(scaler.scale, 32768)
        XCTAssertTrue(scaler.update(gradientsFinite: true))
        XCTAssertEqual(scaler.scale, 65536, "doubled after 3 good steps in a row")
    }

    /// An overflow injected into a gradient under FP16 is caught: the step is skipped, the
    /// weights keep their values, and SGD's master copy stays FP32 while the model holds FP16.
    func testLowPrecisionMasterWeightsAndOverflow() throws {
        let w = try Tensor(shape: [2], scalars: [1.0 / 3, 2], requiresGrad: true)
        let sgd = try SGD(groups: [ParameterGroup(name: "all", parameters: [("w", w)], weightDecay: 0)], momentum: 0, masterPrecision: .float16)
        XCTAssertEqual(try w.scalars[0], 0.333251953125, "the model computes with the FP16 value")
        XCTAssertEqual(try sgd.masters["w"]?[0], 1.0 / 3, "the master keeps FP32")
        w.grad = try Tensor(shape: [2], scalars: [.infinity, 1])
        XCTAssertFalse(try sgd.gradientsAreFinite())
        w.grad = try Tensor(shape: [2], scalars: [1e-4, 1])
        try sgd.step(lr: 1e-3)
        XCTAssertEqual(try sgd.masters["w"]![0], Float(1.0 / 3) - 1e-7, accuracy: 3e-8, "an update too small for FP16 survives in the master")
        XCTAssertLessThan(try sgd.masters["w"]![0], Float(1.0 / 3))
        XCTAssertEqual(try w.scalars[0], 0.333251953125)
    }

    /// Activations and gradients under StoragePrecision are FP16 values.
    func testStoragePrecisionRoundsActivationsAndGradients() throws {
        let x = try Tensor(shape: [1, 3], scalars: [1.0 / 3, 0.1, 3], requiresGrad: true)
        let y = try StoragePrecision.with(.float16) { () -> Tensor in
            let y = try scale(x, by: 1.0 / 3)
            try y.backward(gradient: Tensor(shape: [1, 3], scalars: [1, 1, 1]))
            return y
        }
        for v in try y.scalars { XCTAssertEqual(v, Float(Float16(v))) }
        XCTAssertEqual(try x.grad!.scalars[0], Float(Float16(Float(1.0 / 3))))
    }

    func testRecipes() {
        var c = TrainConfig()
        c.model = "cifar_resnet20"
        c.epochs = 24
        Recipe.full.apply(to: &c)
        XCTAssertEqual(c.model, "cifar_resnet20d")
        XCTAssertEqual(c.schedule, .cosine)
        XCTAssertEqual(c.warmupEpochs, 1)
        XCTAssertEqual([c[LabelSmoothing.eps], c[Mixup.alphaSetting]], [0.1, 0.2])
        XCTAssertTrue(c.zeroGamma && c.noBiasDecay)
        // The fast 16-bit path where the CPU has one, else the paper's FP16.
        XCTAssertEqual(c.precision, Autocast.isNative(.bfloat16, on: .cpu) ? .bf16 : .fp16)
        var r = TrainConfig()
        r.device = .reference
        Recipe.efficient.apply(to: &r)
        XCTAssertEqual(r.precision, .fp16, "the reference backend computes in Float32 only")
        var s = TrainConfig()
        s.epochs = 24
        Recipe.strong.apply(to: &s)
        XCTAssertEqual([s[LabelSmoothing.eps], s[Mixup.alphaSetting], s[Mixup.cutmixAlpha], s[RandomErasing.probabilitySetting]], [0.1, 0.2, 1, 0.25])
        XCTAssertEqual(s[AutoAugment.randAugment], "m9-n2")
        XCTAssertEqual(s.schedule, .cosine)
        var b = TrainConfig()
        Recipe.baseline.apply(to: &b)
        XCTAssertEqual(b.precision, .fp32)
        XCTAssertFalse(b.zeroGamma)
    }
}

final class ConfigFileTests: XCTestCase {
    func testPartialConfigKeepsDefaultsAndUnknownKeysAreErrors() throws {
        let path = NSTemporaryDirectory() + "bagoftricks-config-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"model": "cifar_resnet56d", "epochs": 7, "data": {"channels": 1}, "mixupAlpha": 0.2}"#.utf8).write(to: URL(fileURLWithPath: path))
        let c = try TrainConfig.load(path)
        XCTAssertEqual(c.model, "cifar_resnet56d")
        XCTAssertEqual(c.epochs, 7)
        XCTAssertEqual(c.data.channels, 1)
        XCTAssertEqual(c.data.path, "fashion-mnist")
        XCTAssertEqual(c[Mixup.alphaSetting], 0.2)
        XCTAssertEqual(c.batchSize, TrainConfig().batchSize)
        try Data(#"{"epocs": 7}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TrainConfig.load(path)) { XCTAssertTrue("\($0)".contains("unknown setting \"epocs\""), "\($0)") }
        // Issue 14, item 12: a wrong type is named in words, not Swift's DecodingError.
        try Data(#"{"epochs": "seven"}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TrainConfig.load(path)) {
            XCTAssertTrue("\($0)".hasSuffix(#"setting "epochs" must be a whole number; found a string instead"#), "\($0)")
        }
        try Data(#"{"data": {"channels": [3]}}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TrainConfig.load(path)) { XCTAssertTrue("\($0)".contains(#"setting "data.channels" must be a whole number"#), "\($0)") }
    }

    /// Item 12: keys as the flags spell them (kebab-case) are read too; files are written in camelCase.
    func testKebabCaseKeysAreAccepted() throws {
        let path = NSTemporaryDirectory() + "bagoftricks-config-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"batch-size": 64, "lr-per-256": 0.1, "warmup-epochs": 2, "no-bias-decay": true, "data": {"validation-split": 0.2}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let c = try TrainConfig.load(path)
        XCTAssertEqual(c.batchSize, 64)
        XCTAssertEqual(c.lrPer256, 0.1)
        XCTAssertEqual(c.warmupEpochs, 2)
        XCTAssertTrue(c.noBiasDecay)
        XCTAssertEqual(c.data.validationSplit, 0.2)
        XCTAssertTrue(c.json.contains(#""batchSize""#) && !c.json.contains("batch-size"))
    }

    /// Issue 27 item 14: the data flags are keys too, at the top level (`"data"` a path) or
    /// inside the data object; the same setting twice is an error naming both.
    func testDataFlagsAreConfigKeys() throws {
        let path = NSTemporaryDirectory() + "bagoftricks-config-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        func load(_ json: String) throws -> TrainConfig {
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
            return try TrainConfig.load(path)
        }
        let top = try load(#"{"data": "/photos", "val-split": 0.1, "format": "folder", "channels": 1, "val-data": "/held"}"#)
        XCTAssertEqual(top.data, DataSource(path: "/photos", format: .folder, validationPath: "/held", validationSplit: 0.1, channels: 1))
        let nested = try load(#"{"data": {"path": "/photos", "val-split": 0.1}}"#)
        XCTAssertEqual(nested.data, DataSource(path: "/photos", validationSplit: 0.1))
        XCTAssertThrowsError(try load(#"{"data": {"path": "/photos", "channels": 3}, "channels": 1}"#)) {
            XCTAssertTrue("\($0)".contains(#"gives "channels" both on its own and inside "data""#), "\($0)")
        }
    }
}

/// Issue 14's plots: round ticks with gridlines, per-step loss and LR, a readable 1-epoch run.
final class PlotTests: XCTestCase {
    func testRoundTicks() {
        // Steps of 1, 2 or 5 times a power of ten, covering the range with about `count` ticks.
        XCTAssertEqual(roundTicks(low: 86.9, high: 91.3, count: 5), [86, 88, 90, 92])
        XCTAssertEqual(roundTicks(low: 0, high: 1, count: 5), [0, 0.5, 1])
        let fine = roundTicks(low: 0, high: 1, count: 6)
        XCTAssertEqual(fine.count, 6)
        for (tick, expected) in zip(fine, [0, 0.2, 0.4, 0.6, 0.8, 1.0]) { XCTAssertEqual(tick, expected, accuracy: 1e-12) }
    }

    func testOneEpochRunShowsStepsWarmupAndRoundTicks() throws {
        let record = try JSONDecoder().decode(EpochRecord.self, from: Data(
            #"{"epoch": 0, "trainLoss": 1.2, "valLoss": 0.9, "top1": 71.5, "top5": 98, "lr": 0.1, "seconds": 10, "imagesPerSecond": 100}"#.utf8))
        // 20 logged steps of a 100-step epoch: LR warming up linearly to 0.1, loss falling.
        let steps = (1...20).map { StepPoint(iteration: $0 * 5, loss: 2.3 - Double($0) * 0.05, lr: 0.1 * Double($0) / 20) }
        let svg = trainingCurvesSVG([record], metric: ("validation top-1 (%)", \.top1), steps: steps, stepsPerEpoch: 100, title: "one epoch")
        let polylines = svg.components(separatedBy: "<polyline").dropFirst().map { String($0.prefix(while: { $0 != ">" })) }
        XCTAssertTrue(polylines.contains { $0.components(separatedBy: ",").count - 1 == 20 }, "the per-step loss and LR lines have 20 points")
        XCTAssertTrue(svg.contains("stroke=\"#eee\""), "gridlines")
        for label in [">0.0<", ">0.2<", ">1.0<", ">0.10<"] { XCTAssertTrue(svg.contains(label), "round tick \(label)") }
        XCTAssertGreaterThanOrEqual(svg.components(separatedBy: "<circle").count - 1, 4, "the epoch's values are marked")
    }
}

/// Random erasing (`--reprob`, timm's): one rectangle of noise per chosen image, of 2%-33% of
/// its area, the same in every channel's position; none at probability 0.
final class RandomErasingTests: XCTestCase {
    func testOneRectanglePerImage() throws {
        let (n, c, h, w) = (16, 3, 16, 16)
        let images = try Tensor.zeros([n, c, h, w])
        var rng = SeededGenerator(seed: 3)
        let erased = try RandomErasing(probability: 1)(images: images, rng: &rng).scalars
        var erasedImages = 0
        for i in 0..<n {
            var boxes: [[Int]] = []
            for channel in 0..<c {
                var (count, top, bottom, left, right) = (0, h, -1, w, -1)
                for y in 0..<h { for x in 0..<w where erased[((i * c + channel) * h + y) * w + x] != 0 {
                    count += 1
                    (top, bottom, left, right) = (min(top, y), max(bottom, y), min(left, x), max(right, x))
                } }
                if count > 0 {
                    XCTAssertEqual(count, (bottom - top + 1) * (right - left + 1), "image \(i): a filled rectangle")
                    XCTAssertGreaterThanOrEqual(Double(count), 0.02 * Double(h * w) * 0.5, "image \(i): area")
                    XCTAssertLessThanOrEqual(Double(count), Double(h * w) / 3 * 1.5, "image \(i): area")
                    boxes.append([top, bottom, left, right])
                }
            }
            if !boxes.isEmpty {
                erasedImages += 1
                XCTAssertEqual(boxes.count, c, "image \(i): every channel")
                XCTAssertTrue(boxes.allSatisfy { $0 == boxes[0] }, "image \(i): one position for all channels")
            }
        }
        XCTAssertGreaterThanOrEqual(erasedImages, n - 2, "at probability 1 nearly every image finds a rectangle in 10 draws")
        var again = SeededGenerator(seed: 3)
        XCTAssertEqual(try RandomErasing(probability: 0)(images: images, rng: &again).scalars, try images.scalars)
    }
}

