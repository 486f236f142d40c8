import Models
import NN
import Tensors
import Train
import XCTest

/// CutMix, and mixup and CutMix together as timm's `Mixup` combines them.
final class CutMixTests: XCTestCase {
    /// Image i is filled with the value i, so every pixel tells whose it is.
    func labelledImages(_ n: Int, channels: Int = 2, size: Int = 16) throws -> Tensor {
        let perImage = channels * size * size
        return try Tensor(shape: [n, channels, size, size], scalars: (0..<n * perImage).map { Float($0 / perImage) })
    }

    func oneHot(_ n: Int) -> [Float] { (0..<n * n).map { $0 / n == $0 % n ? 1 : 0 } }

    func testCutMixPastesOneBoxAndMixesTargetsByArea() throws {
        let (n, size) = (4, 16)
        let images = try labelledImages(n, size: size)
        var rng = SeededGenerator(seed: 5)
        let (mixed, targets, lambda) = try CutMix(alpha: 1)(images: images, targets: oneHot(n), rng: &rng)
        let x = try mixed.scalars, perImage = 2 * size * size
        XCTAssertLessThan(lambda, 1, "a box was pasted")
        var mixedImages: [Int] = []
        for i in 0..<n {
            let pixels = x[(i * perImage)..<((i + 1) * perImage)]
            let partners = Set(pixels).subtracting([Float(i)])
            XCTAssertLessThanOrEqual(partners.count, 1, "one partner per image")
            let pasted = pixels.filter { $0 != Float(i) }.count
            // The target's own share is the share of the image that stayed its own; an image
            // the permutation paired with itself keeps all of it.
            let own = targets[i * n + i]
            if let j = partners.first {
                mixedImages.append(i)
                XCTAssertEqual(Double(pasted) / Double(perImage), 1 - lambda, accuracy: 1e-9, "pasted area = 1 - lambda")
                XCTAssertEqual(Double(targets[i * n + Int(j)]), 1 - lambda, accuracy: 1e-6)
                XCTAssertEqual(Double(own), lambda, accuracy: 1e-6)
            } else {
                XCTAssertEqual(own, 1)
            }
            XCTAssertEqual(targets[(i * n)..<((i + 1) * n)].reduce(0, +), 1, accuracy: 1e-6)
        }
        // The pasted region is one rectangle, the same in every channel.
        let i = try XCTUnwrap(mixedImages.first, "some image got a partner's box")
        let plane = size * size, base = i * perImage
        let first = (0..<plane).filter { x[base + $0] != Float(i) }, second = (0..<plane).filter { x[base + plane + $0] != Float(i) }
        XCTAssertEqual(first, second)
        let (lo, hi) = (try XCTUnwrap(first.min()), try XCTUnwrap(first.max()))
        let (rows, columns) = ((lo / size)...(hi / size), (lo % size)...(hi % size))
        XCTAssertEqual(first.count, rows.count * columns.count, "a filled rectangle")
    }

    func hook(_ settings: (inout TrainConfig) -> Void) throws -> any TrainingTrick {
        var c = TrainConfig()
        settings(&c)
        try c.validate()
        let model = try ModelZoo.make("lenet5", classes: 4, inputChannels: 2)
        return try XCTUnwrap(Mixup.registration.make(c, TrickContext(model: model, modelName: "lenet5", classes: 4, inputChannels: 2, device: .cpu)))
    }

    func testTheSwitchAndTheProbability() throws {
        let step = StepInfo(seed: 3, epoch: 0, iteration: 7, micro: 0)
        func run(_ trick: any TrainingTrick) throws -> [Float] {
            var (images, targets) = (try labelledImages(4), oneHot(4))
            try trick.batch(images: &images, targets: &targets, step: step)
            return try images.scalars
        }
        // Mixup alone draws exactly as before the CutMix settings existed.
        var rng = SeededGenerator(seed: 3, 0x4D49_5855, 7, 0)
        let direct = try Mixup(alpha: 0.2)(images: labelledImages(4), targets: oneHot(4), rng: &rng).0.scalars
        XCTAssertEqual(try run(hook { $0[Mixup.alphaSetting] = 0.2 }), direct)
        // CutMix alone (or chosen by a switch probability of 1) only copies pixels: no blends.
        for make in [{ (c: inout TrainConfig) in c[Mixup.cutmixAlpha] = 1 },
                     { (c: inout TrainConfig) in c[Mixup.cutmixAlpha] = 1; c[Mixup.alphaSetting] = 0.2; c[Mixup.switchProbability] = 1 }] {
            XCTAssertTrue(try run(hook(make)).allSatisfy { $0 == $0.rounded() }, "CutMix copies whole pixels")
        }
        // A switch probability of 0 is mixup (blends); a mixing probability of 0 leaves the batch alone.
        XCTAssertFalse(try run(hook { $0[Mixup.cutmixAlpha] = 1; $0[Mixup.alphaSetting] = 0.2; $0[Mixup.switchProbability] = 0 })
            .allSatisfy { $0 == $0.rounded() })
        XCTAssertEqual(try run(hook { $0[Mixup.cutmixAlpha] = 1; $0[Mixup.probability] = 0 }), try labelledImages(4).scalars)
        var bad = TrainConfig()
        bad[Mixup.switchProbability] = 1.5
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("--mixup-switch-prob"), "\($0)") }
    }
}
