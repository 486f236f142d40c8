import NN
import Tensors

/// MobileNet v1 (Howard et al. 2017): a 3x3 stride-2 conv, then 13 depthwise-separable blocks
/// (3x3 depthwise conv + BN + activation, 1x1 pointwise conv + BN + activation) in five stages,
/// global average pool, FC. `widthMultiplier` (0.25 to 1.25) scales every layer's channels.
///
/// State-dict keys are timm's (`mobilenetv1_100`): `conv_stem`, `bn1`, `blocks.S.B.conv_dw`,
/// `.bn1`, `.conv_pw`, `.bn2`, `classifier`, so timm's weights load. The activation is ReLU
/// (GluonCV's MobileNet, which the paper trains; fused into BatchNorm's kernel) or ReLU6
/// (timm's and TensorFlow's): `mobilenet_v1*` and `mobilenetv1_*` in the zoo.
public final class MobileNetV1: Module {
    public enum Activation: Sendable { case relu, relu6 }

    /// Each stage's blocks as (output channels, stride), timm's grouping of the paper's 13.
    static let stages: [[(Int, Int)]] = [[(64, 1)], [(128, 2), (128, 1)], [(256, 2), (256, 1)],
                                         [(512, 2)] + Array(repeating: (512, 1), count: 5), [(1024, 2), (1024, 1)]]

    let convStem: Conv2d, bn1: BatchNorm2d
    let blocks: Sequential
    public let classifier: Linear
    let activation: Activation

    public init(widthMultiplier: Double = 1.0, classes: Int = 1000, inputChannels: Int = 3, activation: Activation = .relu,
                smallInput: Bool = false) throws {
        func scaled(_ c: Int) -> Int { max(8, Int(Double(c) * widthMultiplier)) }
        var channels = scaled(32)
        convStem = try Conv2d(inputChannels, channels, kernel: 3, stride: smallInput ? 1 : 2, padding: 1)
        bn1 = try BatchNorm2d(channels)
        blocks = Sequential(try MobileNetV1.stages.map { stage in
            Sequential(try stage.map { out, stride in
                defer { channels = scaled(out) }
                return try DepthwiseSeparable(channels, scaled(out), stride: stride, activation: activation)
            })
        })
        classifier = try Linear(channels, classes)
        self.activation = activation
    }

    override public var children: [(String, Module)] {
        [("conv_stem", convStem), ("bn1", bn1), ("blocks", blocks), ("classifier", classifier)]
    }

    override public func forward(_ x: Tensor) throws -> Tensor {
        let stem = try convStem.inference(x, bn1, activation: activation.fused) ?? activate(bn1, convStem(x), activation)
        return try classifier(flatten(globalAveragePool(blocks(stem))))
    }
}

/// timm's `DepthwiseSeparableConv` without skip, squeeze-excitation or drop path.
final class DepthwiseSeparable: Module {
    let convDW: Conv2d, bn1: BatchNorm2d, convPW: Conv2d, bn2: BatchNorm2d
    let activation: MobileNetV1.Activation

    init(_ inChannels: Int, _ outChannels: Int, stride: Int, activation: MobileNetV1.Activation) throws {
        convDW = try Conv2d(inChannels, inChannels, kernel: 3, stride: stride, padding: 1, groups: inChannels)
        bn1 = try BatchNorm2d(inChannels)
        convPW = try Conv2d(inChannels, outChannels, kernel: 1)
        bn2 = try BatchNorm2d(outChannels)
        self.activation = activation
    }

    override var children: [(String, Module)] { [("conv_dw", convDW), ("bn1", bn1), ("conv_pw", convPW), ("bn2", bn2)] }

    override func forward(_ x: Tensor) throws -> Tensor {
        if let y = try convDW.inference(x, bn1, activation: activation.fused), let out = try convPW.inference(y, bn2, activation: activation.fused) {
            return out
        }
        return try activate(bn2, convPW(activate(bn1, convDW(x), activation)), activation)
    }
}

/// BatchNorm then the activation: ReLU fused into BatchNorm's kernel, ReLU6 after it.
func activate(_ bn: BatchNorm2d, _ x: Tensor, _ activation: MobileNetV1.Activation) throws -> Tensor {
    switch activation {
    case .relu: try bn(x, relu: true)
    case .relu6: try relu6(bn(x))
    }
}

extension MobileNetV1.Activation {
    /// The same activation as an inference convolution's post-op.
    var fused: FusedActivation { self == .relu ? .relu : .relu6 }
}
