import Foundation
import Models
import NN
import Optim
import Tensors
import XCTest

/// Faster R-CNN's training path (issue 29, item 2): its losses are finite and fall when a small
/// detector fits one batch; an image with no objects trains; bad targets are refused by name.
final class FasterRCNNTrainingTests: XCTestCase {
    /// Two 64x64 images: a bright square (class 1) and a dim bar (class 2) on noise, and an empty one.
    func batch() throws -> ([Tensor], [DetectionTarget]) {
        var generator = SeededGenerator(seed: 4)
        func image(_ objects: [(Box, Float)]) throws -> Tensor {
            var v = (0..<(3 * 64 * 64)).map { _ in Float.random(in: 0...0.2, using: &generator) }
            for (box, value) in objects {
                for c in 0..<3 { for y in Int(box.y1)..<Int(box.y2) { for x in Int(box.x1)..<Int(box.x2) { v[(c * 64 + y) * 64 + x] = value } } }
            }
            return try Tensor(shape: [3, 64, 64], scalars: v)
        }
        let objects: [(Box, Float)] = [(Box(8, 10, 30, 32), 1), (Box(36, 20, 60, 28), 0.6)]
        return ([try image(objects), try image([])],
                [DetectionTarget(boxes: objects.map(\.0), labels: [1, 2]), DetectionTarget(boxes: [], labels: [])])
    }

    func detector() throws -> FasterRCNN {
        var settings = FasterRCNNSettings.smallImages(levels: 4)
        (settings.minSize, settings.maxSize) = (64, 64)
        (settings.rpnBatchSizePerImage, settings.boxBatchSizePerImage) = (64, 64)
        let model = try FasterRCNN(backbone: XCTUnwrap(ModelZoo.resnetConfig("cifar_resnet20")), classes: 3, frozenBatchNorm: false, settings: settings)
        try model.initialize(.kaimingNormal, seed: 1)
        try model.initializeHeads(seed: 2)
        return model
    }

    func testLossesFallWhenFittingOneBatch() throws {
        let (images, targets) = try batch()
        let model = try detector()
        model.train()
        let optimizer = try SGD(groups: [ParameterGroup(name: "all", parameters: model.namedParameters(), weightDecay: 0)], momentum: 0.9)
        var generator = SeededGenerator(seed: 9)
        var totals: [Float] = []
        for _ in 0..<25 {
            let losses = try model.losses(images, targets: targets, generator: &generator)
            let total = try losses.total()
            for (name, value) in try losses.values() { XCTAssertTrue(value.isFinite, "\(name) = \(value)") }
            totals.append(try total.item())
            optimizer.zeroGrad()
            try total.backward()
            try optimizer.step(lr: 0.01)
        }
        XCTAssertLessThan(totals.suffix(5).reduce(0, +) / 5, 0.5 * totals[0], "losses \(totals)")
    }

    func testBadTargetsAreRefusedByName() throws {
        let (images, _) = try batch()
        let model = try detector()
        var generator = SeededGenerator(seed: 1)
        let flat = DetectionTarget(boxes: [Box(5, 5, 5, 9)], labels: [1])
        XCTAssertThrowsError(try model.losses([images[0]], targets: [flat], generator: &generator)) {
            XCTAssertTrue("\($0)".contains("image 0: box (5.0, 5.0, 5.0, 9.0) has no area"), "\($0)")
        }
        let background = DetectionTarget(boxes: [Box(1, 1, 9, 9)], labels: [0])
        XCTAssertThrowsError(try model.losses([images[0]], targets: [background], generator: &generator)) {
            XCTAssertTrue("\($0)".contains("label 0 is not an object class (1 to 2"), "\($0)")
        }
    }

    /// `trainable_backbone_layers`: 1 trains the last stage only, 5 the whole body; the heads always train.
    func testTrainableBackboneLayers() throws {
        let model = try detector()
        try model.trainBackboneLayers(1)
        let body = model.backbone.body.namedParameters()
        XCTAssertTrue(body.filter { $0.0.hasPrefix("layer3.") }.allSatisfy(\.1.requiresGrad))
        XCTAssertTrue(body.filter { !$0.0.hasPrefix("layer3.") }.allSatisfy { !$0.1.requiresGrad })
        XCTAssertTrue(model.rpn.namedParameters().allSatisfy(\.1.requiresGrad))
        try model.trainBackboneLayers(5)
        XCTAssertTrue(model.backbone.body.namedParameters().allSatisfy(\.1.requiresGrad))
        XCTAssertThrowsError(try model.trainBackboneLayers(6))
    }
}
