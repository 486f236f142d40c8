import NN
import Tensors

/// ResNet v1 and the paper's tweaks (section 4) as configuration values of one model:
/// - B: the downsampling block's stride moves from its first 1x1 conv to the 3x3 conv;
/// - C: the 7x7 stem conv becomes three 3x3 convs (32, 32, 64 channels);
/// - D: C and B, and the projection shortcut becomes 2x2 average pool (stride 2, ceil mode,
///   padding not counted) then a stride-1 1x1 conv.
/// State-dict keys follow torchvision and timm (`conv1`, `bn1`, `layer1.0.conv1`, `fc`), so that
/// their weights load: torchvision's and timm's `resnet50` is ResNet-B, which is what the zoo's
/// `resnet50` builds (`resnet50a` is the original); timm's `resnet50c`/`resnet50d` are ours.
public struct ResNetConfig: Sendable, Equatable {
    public enum Block: Sendable { case basic, bottleneck }
    public enum Stem: Sendable, Equatable {
        /// 7x7 stride-2 conv then 3x3 stride-2 max pool (ImageNet).
        case standard
        /// ResNet-C: three 3x3 convs (stem width, stem width, 2 x stem width), the first stride 2, then max pool.
        /// (Every stem ends with 2 x `stemWidth` channels, as in timm: 64 for the ImageNet ResNets.)
        case deep
        /// Small images (CIFAR, Fashion-MNIST): one 3x3 stride-1 conv, no max pool.
        case small
        /// Small images with ResNet-C's three 3x3 convs, all stride 1, no max pool.
        case smallDeep
    }

    public var block: Block
    public var layers: [Int]
    public var widths: [Int]
    public var stem: Stem
    public var stemWidth: Int
    public var strideOn3x3: Bool
    public var averagePoolShortcut: Bool
    public var classes: Int
    public var inputChannels: Int
    /// The last this-many stages keep their resolution: each stride 2 becomes a dilation that
    /// doubles (torchvision's `replace_stride_with_dilation`; 2 gives FCN's output stride 8 on the
    /// ImageNet ResNets: layer3 dilation 2, layer4 dilation 4). The first block of such a stage
    /// uses the previous dilation where its stride was, as torchvision and GluonCV do.
    public var dilatedStages = 0

    public init(block: Block, layers: [Int], widths: [Int] = [64, 128, 256, 512], stem: Stem = .standard, stemWidth: Int? = nil,
                strideOn3x3: Bool = false, averagePoolShortcut: Bool = false, classes: Int = 1000, inputChannels: Int = 3) {
        (self.block, self.layers, self.widths, self.stem) = (block, layers, widths, stem)
        self.stemWidth = stemWidth ?? widths[0] / 2
        (self.strideOn3x3, self.averagePoolShortcut, self.classes, self.inputChannels) = (strideOn3x3, averagePoolShortcut, classes, inputChannels)
    }

    /// The ImageNet ResNets: depth 18, 34, 50, 101 or 152.
    public static func depth(_ depth: Int) -> ResNetConfig? {
        switch depth {
        case 18: ResNetConfig(block: .basic, layers: [2, 2, 2, 2])
        case 34: ResNetConfig(block: .basic, layers: [3, 4, 6, 3])
        case 50: ResNetConfig(block: .bottleneck, layers: [3, 4, 6, 3])
        case 101: ResNetConfig(block: .bottleneck, layers: [3, 4, 23, 3])
        case 152: ResNetConfig(block: .bottleneck, layers: [3, 8, 36, 3])
        default: nil
        }
    }

    /// He et al.'s CIFAR ResNets, depth 6n + 2 (20, 32, 44, 56, 110): three stages of n basic
    /// blocks, 16/32/64 channels, projection shortcuts where the shape changes.
    public static func cifar(depth: Int) -> ResNetConfig? {
        guard depth >= 8, (depth - 2) % 6 == 0 else { return nil }
        let n = (depth - 2) / 6
        return ResNetConfig(block: .basic, layers: [n, n, n], widths: [16, 32, 64], stem: .small, classes: 10)
    }

    /// How much smaller than the input the last stage's output is: 32 for the ImageNet ResNets,
    /// 8 with two dilated stages (FCN's), 4 for the CIFAR ResNets.
    public var outputStride: Int {
        let stem = stem == .standard || stem == .deep ? 4 : 1
        let stridedStages = max(0, layers.count - 1 - dilatedStages)
        return stem << stridedStages
    }

    /// Applies a tweak letter: "b", "c" or "d" (cumulative, as in the paper).
    public func tweaked(_ letter: Character) -> ResNetConfig {
        var config = self
        let small = stem == .small || stem == .smallDeep
        if "bcd".contains(letter), block == .bottleneck { config.strideOn3x3 = true }  // basic blocks stride on their first 3x3 already
        if "cd".contains(letter) { config.stem = small ? .smallDeep : .deep }
        if letter == "d" { config.averagePoolShortcut = true }
        return config
    }
}

public final class ResNet: Module {
    public let config: ResNetConfig
    let conv1: Module
    let bn1: BatchNorm2d
    let maxPool: Bool
    let stages: [Sequential]
    /// None with `classes` 0: a backbone (FCN's), whose forward pass ends at the pooled features.
    public let fc: Linear?
    /// Channels out of each stage.
    public let stageChannels: [Int]

    public init(_ config: ResNetConfig) throws {
        self.config = config
        let stemOut = 2 * config.stemWidth
        switch config.stem {
        case .standard:
            conv1 = try Conv2d(config.inputChannels, stemOut, kernel: 7, stride: 2, padding: 3)
        case .small:
            conv1 = try Conv2d(config.inputChannels, stemOut, kernel: 3, stride: 1, padding: 1)
        case .deep, .smallDeep:
            let w = config.stemWidth, firstStride = config.stem == .deep ? 2 : 1
            conv1 = Sequential([
                try Conv2d(config.inputChannels, w, kernel: 3, stride: firstStride, padding: 1), try BatchNorm2d(w), ReLU(),
                try Conv2d(w, w, kernel: 3, padding: 1), try BatchNorm2d(w), ReLU(),
                try Conv2d(w, stemOut, kernel: 3, padding: 1),
            ])
        }
        bn1 = try BatchNorm2d(stemOut)
        maxPool = config.stem == .standard || config.stem == .deep
        var inChannels = stemOut
        var stages: [Sequential] = []
        var dilation = 1
        var stageChannels: [Int] = []
        for (index, (count, width)) in zip(config.layers, config.widths).enumerated() {
            var blocks: [Module] = []
            var stageStride = index > 0 ? 2 : 1
            let previousDilation = dilation
            if index >= config.layers.count - config.dilatedStages && stageStride > 1 {
                dilation *= stageStride
                stageStride = 1
            }
            for i in 0..<count {
                let stride = i == 0 ? stageStride : 1
                // GluonCV's dilated blocks: the first one's first 3x3 keeps the previous dilation.
                let first = i == 0 ? previousDilation : dilation
                let block: Module = config.block == .basic
                    ? try BasicBlock(inChannels, width, stride: stride, dilations: (first, dilation), config: config)
                    : try Bottleneck(inChannels, width, stride: stride, dilation: first, config: config)
                inChannels = width * (config.block == .basic ? 1 : 4)
                blocks.append(block)
            }
            stages.append(Sequential(blocks))
            stageChannels.append(inChannels)
        }
        self.stages = stages
        self.stageChannels = stageChannels
        fc = config.classes > 0 ? try Linear(inChannels, config.classes) : nil
    }

    override public var children: [(String, Module)] {
        [("conv1", conv1), ("bn1", bn1)] + stages.enumerated().map { ("layer\($0.offset + 1)", $0.element as Module) }
            + (fc.map { [("fc", $0 as Module)] } ?? [])
    }

    override public func forward(_ x: Tensor) throws -> Tensor {
        let features = try flatten(globalAveragePool(stageOutputs(x).last!))
        return try fc?(features) ?? features
    }

    /// The output of each stage (layer1, layer2, ...), for dense heads such as FCN's.
    public func stageOutputs(_ input: Tensor) throws -> [Tensor] {
        var x: Tensor
        if let conv = conv1 as? Conv2d, let y = try conv.inference(input, bn1, activation: .relu) {
            x = y
        } else if let deep = conv1 as? Sequential, let last = deep.layers.last as? Conv2d, last.fusesInference(bn1, input: input) {
            // ResNet-C/D's three convs: the last one fused with bn1.
            x = try last.inference(Sequential(Array(deep.layers.dropLast()))(input), bn1, activation: .relu)!
        } else {
            x = try bn1(conv1(input), relu: true)
        }
        if maxPool { x = try maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        var outputs: [Tensor] = []
        for stage in stages {
            x = try stage(x)
            outputs.append(x)
        }
        return outputs
    }

}

/// The shortcut of a block that changes shape: 1x1 conv (stride s) + BN, or with ResNet-D,
/// average pool + stride-1 1x1 conv + BN (timm's `downsample_avg`; an Identity stands in
/// for the pool at stride 1, as in timm, so that the keys match).
func downsample(_ inChannels: Int, _ outChannels: Int, stride: Int, config: ResNetConfig) throws -> Sequential? {
    guard stride != 1 || inChannels != outChannels else { return nil }
    guard config.averagePoolShortcut else {
        return Sequential([try Conv2d(inChannels, outChannels, kernel: 1, stride: stride), try BatchNorm2d(outChannels)])
    }
    let pool: Module = stride == 1 ? Identity() : AvgPool2d(kernel: 2, stride: stride, ceilMode: true, countIncludePad: false)
    return Sequential([pool, try Conv2d(inChannels, outChannels, kernel: 1), try BatchNorm2d(outChannels)])
}

/// Two 3x3 convs (ResNet-18/34 and the CIFAR ResNets).
public final class BasicBlock: Module, ResidualBlock {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let shortcut: Sequential?

    /// `dilations`: of the first and the second 3x3 conv (GluonCV's `dilation` and `previous_dilation`).
    init(_ inChannels: Int, _ width: Int, stride: Int, dilations: (Int, Int) = (1, 1), config: ResNetConfig) throws {
        conv1 = try Conv2d(inChannels, width, kernel: 3, stride: stride, padding: dilations.0, dilation: dilations.0)
        bn1 = try BatchNorm2d(width)
        conv2 = try Conv2d(width, width, kernel: 3, padding: dilations.1, dilation: dilations.1)
        bn2 = try BatchNorm2d(width)
        shortcut = try downsample(inChannels, width, stride: stride, config: config)
    }

    public var lastBatchNorm: BatchNorm2d { bn2 }

    override public var children: [(String, Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)] + (shortcut.map { [("downsample", $0 as Module)] } ?? [])
    }

    override public func forward(_ x: Tensor) throws -> Tensor {
        if let y = try conv1.inference(x, bn1, activation: .relu),
           let out = try conv2.inference(y, bn2, residual: shortcut?(x) ?? x, activation: .relu) { return out }
        let branch = try bn2(conv2(bn1(conv1(x), relu: true)))
        return try addReLU(branch, shortcut?(x) ?? x)
    }
}

/// 1x1 (reduce), 3x3, 1x1 (expand x4). ResNet-B and later put the stride on the 3x3 conv.
public final class Bottleneck: Module, ResidualBlock {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let shortcut: Sequential?

    /// `dilation`: of the 3x3 conv.
    init(_ inChannels: Int, _ width: Int, stride: Int, dilation: Int = 1, config: ResNetConfig) throws {
        let out = width * 4
        conv1 = try Conv2d(inChannels, width, kernel: 1, stride: config.strideOn3x3 ? 1 : stride)
        bn1 = try BatchNorm2d(width)
        conv2 = try Conv2d(width, width, kernel: 3, stride: config.strideOn3x3 ? stride : 1, padding: dilation, dilation: dilation)
        bn2 = try BatchNorm2d(width)
        conv3 = try Conv2d(width, out, kernel: 1)
        bn3 = try BatchNorm2d(out)
        shortcut = try downsample(inChannels, out, stride: stride, config: config)
    }

    public var lastBatchNorm: BatchNorm2d { bn3 }

    override public var children: [(String, Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("conv3", conv3), ("bn3", bn3)]
            + (shortcut.map { [("downsample", $0 as Module)] } ?? [])
    }

    override public func forward(_ x: Tensor) throws -> Tensor {
        if let a = try conv1.inference(x, bn1, activation: .relu), let b = try conv2.inference(a, bn2, activation: .relu),
           let out = try conv3.inference(b, bn3, residual: shortcut?(x) ?? x, activation: .relu) { return out }
        var y = try bn1(conv1(x), relu: true)
        y = try bn2(conv2(y), relu: true)
        y = try bn3(conv3(y))
        return try addReLU(y, shortcut?(x) ?? x)
    }
}
