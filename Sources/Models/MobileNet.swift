import NN
import Tensors

/// MobileNet v1 (Howard et al. 2017): a 3x3 stride-2 conv, then 13 depthwise-separable blocks
/// (3x3 depthwise conv + BN + ReLU, 1x1 pointwise conv + BN + ReLU), global average pool, FC.
/// `widthMultiplier` (0.25 to 1.0) scales every layer's channels. Keys: `features.0` is the
/// stem (conv, BN), `features.1`...`features.13` the blocks (depthwise at .0/.1, pointwise at
/// .3/.4), then `fc`.
public final class MobileNetV1: Module {
    /// (output channels, stride) of each depthwise-separable block.
    static let blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                         (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]

    let features: Sequential
    public let fc: Linear

    public init(widthMultiplier: Double = 1.0, classes: Int = 1000, inputChannels: Int = 3, smallInput: Bool = false) {
        func scaled(_ c: Int) -> Int { max(8, Int(Double(c) * widthMultiplier)) }
        var layers: [Module] = [Sequential([
            Conv2d(inputChannels, scaled(32), kernel: 3, stride: smallInput ? 1 : 2, padding: 1), BatchNorm2d(scaled(32)), ReLU(),
        ])]
        var channels = scaled(32)
        for (out, stride) in MobileNetV1.blocks {
            let next = scaled(out)
            layers.append(Sequential([
                Conv2d(channels, channels, kernel: 3, stride: stride, padding: 1, groups: channels), BatchNorm2d(channels), ReLU(),
                Conv2d(channels, next, kernel: 1), BatchNorm2d(next), ReLU(),
            ]))
            channels = next
        }
        features = Sequential(layers)
        fc = Linear(channels, classes)
    }

    override public var children: [(String, Module)] { [("features", features), ("fc", fc)] }

    override public func forward(_ x: Tensor) throws -> Tensor {
        try fc(flatten(globalAveragePool(features(x))))
    }
}
