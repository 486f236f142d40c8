import NN
import Tensors

/// torchvision's `FeaturePyramidNetwork` with `LastLevelMaxPool` (Lin et al. 2017): a 1x1
/// lateral conv per backbone stage (`inner_blocks.N.0`), a top-down path that adds each coarser
/// level, resized by nearest neighbour, to the next lateral, a 3x3 conv on every sum
/// (`layer_blocks.N.0`), and one more level by subsampling the coarsest (max pool, kernel 1,
/// stride 2). Every conv has a bias and no normalisation; all levels have `channels` channels.
public final class FeaturePyramidNetwork: Module {
    public let innerBlocks: ModuleList, layerBlocks: ModuleList
    public let channels: Int

    public init(inChannels: [Int], channels: Int = 256) throws {
        innerBlocks = ModuleList(try inChannels.map { Sequential([try Conv2d($0, channels, kernel: 1, bias: true)]) })
        layerBlocks = ModuleList(try inChannels.map { _ in Sequential([try Conv2d(channels, channels, kernel: 3, padding: 1, bias: true)]) })
        self.channels = channels
    }

    override public var children: [(String, Module)] { [("inner_blocks", innerBlocks), ("layer_blocks", layerBlocks)] }

    /// The pyramid of `features` (finest first), and the extra pooled level last.
    public func levels(_ features: [Tensor]) throws -> [Tensor] {
        precondition(features.count == innerBlocks.count, "FPN: \(features.count) feature maps for \(innerBlocks.count) lateral convs")
        var last = try innerBlocks[features.count - 1](features[features.count - 1])
        var results = [try layerBlocks[features.count - 1](last)]
        for index in stride(from: features.count - 2, through: 0, by: -1) {
            let lateral = try innerBlocks[index](features[index])
            last = try add(lateral, upsampleNearest2d(last, size: (lateral.shape[2], lateral.shape[3])))
            results.insert(try layerBlocks[index](last), at: 0)
        }
        results.append(try maxPool2d(results[results.count - 1], kernel: (1, 1), stride: (2, 2)))
        return results
    }

    /// torchvision's initialisation: kaiming_uniform_(a=1) on every weight (uniform in
    /// +-sqrt(3 / fan_in)), biases 0.
    public func initializeAsTorchvision(_ generator: inout SeededGenerator) throws {
        for case let (_, conv as Conv2d) in namedModules() {
            let fanIn = conv.weight.count / conv.weight.shape[0]
            let bound = Float((3.0 / Double(fanIn)).squareRoot())
            try conv.weight.assign((0..<conv.weight.count).map { _ in Float.random(in: -bound...bound, using: &generator) })
            try conv.bias?.assign([Float](repeating: 0, count: conv.weight.shape[0]))
        }
    }
}
