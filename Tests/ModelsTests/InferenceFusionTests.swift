import Models
@testable import NN
import Tensors
import XCTest

/// Issue 31: evaluation's fused path (BatchNorm folded into the convolution, the residual add
/// and the activation as post-ops, weights prepared once) computes what the training-shaped
/// forward computes, on every model of the zoo, and follows the weights when they change.
final class InferenceFusionTests: XCTestCase {
    /// BatchNorm's parameters and running statistics away from 1 and 0, so that folding them is
    /// not the identity; the rest from Kaiming's initialisation.
    func randomized(_ name: String, classes: Int) throws -> Module {
        let model = try ModelZoo.make(name, classes: classes)
        try model.initialize(.kaimingNormal, seed: 3)
        var generator = SeededGenerator(seed: 11)
        for (_, module) in model.namedModules() {
            guard let bn = module as? BatchNorm2d else { continue }
            let n = bn.weight.count
            try bn.weight.assign((0..<n).map { _ in Float.random(in: 0.5...1.5, using: &generator) })
            try bn.bias.assign((0..<n).map { _ in Float.random(in: -0.2...0.2, using: &generator) })
            try bn.runningMean.assign((0..<n).map { _ in Float.random(in: -0.3...0.3, using: &generator) })
            try bn.runningVar.assign((0..<n).map { _ in Float.random(in: 0.5...2, using: &generator) })
        }
        model.eval()
        return model
    }

    /// The largest difference between the fused and the unfused pass, relative to the largest
    /// output.
    func relativeDifference(_ model: Module, input: Tensor) throws -> Float {
        let fused = try GradMode.withoutGradient { try model(input).scalars }
        let plain = try InferenceFusion.with(false) { try GradMode.withoutGradient { try model(input).scalars } }
        let largest = plain.map(abs).max()!
        return zip(fused, plain).map { abs($0 - $1) }.max()! / largest
    }

    func testEveryModelOfTheZooComputesTheSameFused() throws {
        var generator = SeededGenerator(seed: 5)
        let segmentation = ModelZoo.segmentationNames.filter { $0.contains("cifar") || $0.hasSuffix("resnet18d") || $0 == "fcn_resnet50" }
        XCTAssertTrue(segmentation.contains("fcn_resnet50") && segmentation.contains("fcn_resnet18d") && segmentation.contains("fcn_cifar_resnet20"),
                      "\(segmentation)")
        let names = ModelZoo.names + segmentation
        XCTAssertGreaterThan(ModelZoo.names.count, 40)
        for name in names {
            // Small inputs keep the 152-layer ResNets quick; Inception needs at least 75 pixels.
            let side = name == "lenet5" ? 28 : name.contains("cifar") ? 32 : name == "inception_v3" ? 80 : 64
            let model = try randomized(name, classes: name.hasPrefix("fcn_") ? 5 : 10)
            let input = try Tensor.randn([2, 3, side, side], using: &generator)
            let difference = try relativeDifference(model, input: input)
            XCTAssertLessThan(difference, 1e-5, "\(name): fused and unfused differ by \(difference) of the largest output")
            // Every convolution followed by a BatchNorm ran fused (its folded weights exist).
            let modules = model.namedModules().map(\.1)
            let convs = modules.compactMap { $0 as? Conv2d }
            let batchNorms = modules.filter { $0 is BatchNorm2d }.count
            XCTAssertEqual(convs.filter { $0.folded.weights != nil }.count, batchNorms, "\(name): one folded conv per BatchNorm")
        }
    }

    /// Under bf16 autocast the fused kernel computes in bf16 as the unfused one does: they agree
    /// to bf16's precision.
    func testBFloat16FusedAgreesToItsPrecision() throws {
        try XCTSkipUnless(Autocast.isNative(.bfloat16), "this CPU has no native bf16 kernels")
        var generator = SeededGenerator(seed: 6)
        let model = try randomized("cifar_resnet20", classes: 10)
        let input = try Tensor.randn([4, 3, 32, 32], using: &generator)
        let difference = try Autocast.with(.bfloat16) { try relativeDifference(model, input: input) }
        XCTAssertLessThan(difference, 0.05)
    }

    /// The folded weights follow the parameters: after an in-place change (an optimiser step,
    /// a loaded checkpoint) and after BatchNorm's running statistics moved in training mode.
    func testFoldedWeightsFollowTheParameters() throws {
        var generator = SeededGenerator(seed: 7)
        let model = try randomized("cifar_resnet20", classes: 10)
        let input = try Tensor.randn([2, 3, 32, 32], using: &generator)
        let before = try GradMode.withoutGradient { try model(input).scalars }
        let conv = try XCTUnwrap(model.namedModules().first { $0.0 == "layer2.0.conv1" }?.1 as? Conv2d)
        try conv.weight.withUnsafeMutableFloats { w in for i in 0..<w.count { w[i] *= -1.5 } }
        XCTAssertLessThan(try relativeDifference(model, input: input), 1e-5, "after an in-place update")
        XCTAssertNotEqual(try GradMode.withoutGradient { try model(input).scalars }, before)

        model.train()
        _ = try GradMode.withoutGradient { try model(input) }  // moves every running mean and variance
        model.eval()
        XCTAssertLessThan(try relativeDifference(model, input: input), 1e-5, "after the running statistics moved")
    }

    /// The kernel against a naive composition: conv + bias, + residual, ReLU6, on blocked layouts.
    func testInferenceConvolutionWithResidualAndActivation() throws {
        var generator = SeededGenerator(seed: 8)
        let x = try Tensor.randn([2, 8, 9, 9], using: &generator)
        let weight = try Tensor.randn([16, 8, 3, 3], std: 0.5, using: &generator), bias = try Tensor.randn([16], using: &generator)
        let residual = try Tensor.randn([2, 16, 5, 5], std: 3, using: &generator)
        let weights = KernelWeights(weight: weight, bias: bias)
        for activation in [FusedActivation.none, .relu, .relu6] {
            let fused = try inferenceConv2d(x, weights: weights, stride: (2, 2), padding: (1, 1), residual: residual, activation: activation).scalars
            var expected = try add(conv2d(x, weight: weight, bias: bias, stride: (2, 2), padding: (1, 1)), residual).scalars
            expected = expected.map { activation == .none ? $0 : activation == .relu ? max(0, $0) : min(6, max(0, $0)) }
            XCTAssertEqual(fused.count, expected.count)
            XCTAssertLessThan(zip(fused, expected).map { abs($0 - $1) }.max()!, 1e-4, "\(activation)")
            if activation == .relu6 { XCTAssertTrue(fused.contains(6) && fused.contains(0), "both bounds reached") }
        }
        XCTAssertEqual(residual.shape, [2, 16, 5, 5])
        XCTAssertThrowsError(try inferenceConv2d(x, weights: weights, residual: residual)) {
            XCTAssertTrue("\($0)".contains("residual [2, 16, 5, 5] differs from the output [2, 16, 7, 7]"), "\($0)")
        }
    }
}
