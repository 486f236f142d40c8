import Models
import NN
import Tensors
import XCTest

/// Every model and variant the zoo names: output shape [N, classes] and a backward pass that
/// reaches every parameter with a finite gradient of the parameter's shape.
final class ForwardBackwardTests: XCTestCase {
    func run(_ name: String, size: Int, channels: Int = 3, classes: Int = 7, auxiliaryHead: Bool = false,
             file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try ModelZoo.make(name, classes: classes, inputChannels: channels, auxiliaryHead: auxiliaryHead)
        try model.initialize(.kaimingNormal, seed: 1)
        var generator = SeededGenerator(seed: 2)
        let x = try Tensor.randn([2, channels, size, size], using: &generator)
        var logits = try model(x)
        var loss = try crossEntropy(logits, labels: [1, 5])
        if let inception = model as? InceptionV3, auxiliaryHead {
            let outputs = try inception.forwardWithAuxiliary(x)
            let auxiliary = try XCTUnwrap(outputs.auxiliary, "\(name): no auxiliary logits in training", file: file, line: line)
            XCTAssertEqual(auxiliary.shape, [2, classes], file: file, line: line)
            logits = outputs.logits
            loss = try add(crossEntropy(logits, labels: [1, 5]), scale(crossEntropy(auxiliary, labels: [1, 5]), by: 0.4))
        }
        XCTAssertEqual(logits.shape, [2, classes], "\(name) output shape", file: file, line: line)
        XCTAssertTrue(try loss.item().isFinite, "\(name) loss", file: file, line: line)
        try loss.backward()
        for (key, p) in model.namedParameters() {
            guard let grad = p.grad else { XCTFail("\(name): no gradient for \(key)", file: file, line: line); continue }
            XCTAssertEqual(grad.shape, p.shape, "\(name) \(key)", file: file, line: line)
            XCTAssertTrue(try grad.scalars.allSatisfy(\.isFinite), "\(name) \(key) gradient not finite", file: file, line: line)
        }
        model.eval()
        XCTAssertEqual(try GradMode.withoutGradient { try model(x) }.shape, [2, classes], "\(name) eval", file: file, line: line)
    }

    /// The zoo's names with `prefix`, failing the test where there are none: a renamed family
    /// must not leave a loop that tests nothing.
    func zooNames(startingWith prefix: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let names = ModelZoo.names.filter { $0.hasPrefix(prefix) }
        XCTAssertFalse(names.isEmpty, "no model of the zoo starts with \(prefix)", file: file, line: line)
        return names
    }

    func testImageNetResNets() throws {
        for name in try zooNames(startingWith: "resnet") { try run(name, size: 64) }
    }

    func testSmallImageResNetsOnFashionMNISTShapes() throws {
        for name in try zooNames(startingWith: "cifar_resnet") { try run(name, size: 28, channels: 1, classes: 10) }
    }

    func testMobileNets() throws {
        for name in try zooNames(startingWith: "mobilenet") { try run(name, size: 64) }
    }

    func testInceptionV3() throws {
        try run("inception_v3", size: 96)
    }

    func testInceptionV3WithAuxiliaryHeadAt299() throws {
        try run("inception_v3", size: 299, auxiliaryHead: true)
    }

    func testZeroGammaZeroesTheLastBatchNormOfEachBlock() throws {
        let model = try ModelZoo.make("resnet50d")
        try model.initialize(.xavierUniform, seed: 3, zeroGamma: true)
        var zeroed = 0
        for (key, p) in model.namedParameters() where key.hasSuffix("weight") && p.rank == 1 {
            let isLast = key.hasSuffix("bn3.weight")
            let values = try p.scalars
            XCTAssertTrue(isLast ? values.allSatisfy { $0 == 0 } : values.allSatisfy { $0 == 1 }, key)
            if isLast { zeroed += 1 }
        }
        XCTAssertEqual(zeroed, 16, "ResNet-50 has 16 bottleneck blocks")
    }

    func testXavierBoundsFollowFans() throws {
        let model = try ModelZoo.make("cifar_resnet20", classes: 10)
        try model.initialize(.xavierUniform, seed: 4)
        let weight = try XCTUnwrap(Dictionary(uniqueKeysWithValues: model.namedParameters())["layer2.0.conv1.weight"])
        // [32, 16, 3, 3]: fan_in 144, fan_out 288, a = sqrt(6 / 432).
        let a = Float((6.0 / 432).squareRoot())
        let values = try weight.scalars
        XCTAssertLessThanOrEqual(values.map(abs).max()!, a)
        XCTAssertGreaterThan(values.map(abs).max()!, 0.95 * a)
    }
}
