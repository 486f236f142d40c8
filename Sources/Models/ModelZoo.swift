import NN
import Tensors

/// Models by name, as `timm.create_model` and torchvision know them:
/// - `resnet18` ... `resnet152`: torchvision's and timm's ResNet, which is the paper's ResNet-B
///   (stride 2 on the downsampling block's 3x3 conv), so that their weights load into the name
///   they are published under; the suffix `a` is the paper's original ResNet (stride on the first
///   1x1 conv, `resnet50a`), `b` the same as no suffix, `c` and `d` the paper's tweaks
///   (`resnet50d`). GluonCV's names work too: `resnet50_v1` is `resnet50a`, `resnet50_v1b`,
///   `_v1c`, `_v1d` are `resnet50`, `resnet50c`, `resnet50d`. (The tweaks only differ from one
///   another for bottleneck depths 50, 101 and 152 and in the stem; `resnet18a` is `resnet18`.)
/// - `cifar_resnet20`, `_32`, `_44`, `_56`, `_110` (He et al.'s CIFAR ResNets) and
///   `cifar_resnet18` ... `cifar_resnet152` (ImageNet ResNets with the small-image stem: one 3x3
///   stride-1 conv, no max pool), all accepting the same suffixes;
/// - `mobilenet_v1` (width 1.0), `mobilenet_v1_075`, `_050`, `_025` (ReLU, GluonCV's);
///   `mobilenetv1_100`, `mobilenetv1_125` (ReLU6: timm's, whose weights load);
/// - `inception_v3` (299x299 input);
/// - `lenet5` (28x28 input, no BatchNorm);
/// - for segmentation, `fcn_` and a ResNet's name (`segmentationNames`).
public enum ModelZoo {
    public static let resnetDepths = [18, 34, 50, 101, 152]
    public static let cifarDepths = [20, 32, 44, 56, 110]

    /// Every distinct model, in listing order: each ResNet once per network (the `a` name only for
    /// the bottleneck depths, where it differs from the plain name; `b` and GluonCV's names are
    /// aliases that `make` also accepts).
    public static var names: [String] {
        var names: [String] = []
        for (prefix, depths) in [("resnet", resnetDepths), ("cifar_resnet", cifarDepths), ("cifar_resnet", resnetDepths)] {
            for depth in depths {
                let bottleneck = ResNetConfig.depth(depth)?.block == .bottleneck && !(prefix == "cifar_resnet" && cifarDepths.contains(depth))
                for tweak in bottleneck ? ["", "a", "c", "d"] : ["", "c", "d"] { names.append("\(prefix)\(depth)\(tweak)") }
            }
        }
        return names + ["mobilenet_v1", "mobilenet_v1_075", "mobilenet_v1_050", "mobilenet_v1_025", "mobilenetv1_100", "mobilenetv1_125",
                        "inception_v3", "lenet5"]
    }

    /// Segmentation models: `fcn_` and any ResNet name (`fcn_resnet50d`, `fcn_cifar_resnet20`).
    public static var segmentationNames: [String] { names.filter { resnetConfig($0) != nil }.map { "fcn_" + $0 } }

    /// The input side length the model is designed for.
    public static func defaultInputSize(_ name: String) -> Int {
        name == "lenet5" ? 28 : name.hasPrefix("cifar_") ? 32 : name == "inception_v3" ? 299 : 224
    }

    /// Models for small images (CIFAR, MNIST) train with the small augmentation by default.
    public static func isSmallImageModel(_ name: String) -> Bool { defaultInputSize(name) < 64 }

    /// Builds a model with zeroed weights; call `initialize` (or load weights) next. Every
    /// model is checked to list all the state it holds (`checkStateIsRegistered`).
    public static func make(_ name: String, classes: Int = 1000, inputChannels: Int = 3, auxiliaryHead: Bool = false) throws -> Module {
        let model = try build(name, classes: classes, inputChannels: inputChannels, auxiliaryHead: auxiliaryHead)
        try model.checkStateIsRegistered()
        return model
    }

    private static func build(_ name: String, classes: Int, inputChannels: Int, auxiliaryHead: Bool) throws -> Module {
        guard classes >= 1 else { throw OpError(op: "model", "classes must be at least 1, got \(classes)") }
        guard inputChannels >= 1 else { throw OpError(op: "model", "input channels must be at least 1, got \(inputChannels)") }
        if name == "lenet5" { return try LeNet5(classes: classes, inputChannels: inputChannels) }
        if name == "inception_v3" { return try InceptionV3(classes: classes, inputChannels: inputChannels, auxiliaryHead: auxiliaryHead) }
        if name.hasPrefix("mobilenet_v1") {
            let widths = ["mobilenet_v1": 1.0, "mobilenet_v1_100": 1.0, "mobilenet_v1_075": 0.75, "mobilenet_v1_050": 0.5, "mobilenet_v1_025": 0.25]
            if let width = widths[name] { return try MobileNetV1(widthMultiplier: width, classes: classes, inputChannels: inputChannels) }
        }
        if let width = ["mobilenetv1_100": 1.0, "mobilenetv1_125": 1.25][name] {  // timm's, with ReLU6
            return try MobileNetV1(widthMultiplier: width, classes: classes, inputChannels: inputChannels, activation: .relu6)
        }
        if name.hasPrefix("fcn_"), let backbone = resnetConfig(String(name.dropFirst(4))) {
            var config = backbone
            config.inputChannels = inputChannels
            return try FCN(backbone: config, classes: classes, auxiliaryHead: auxiliaryHead)
        }
        if var config = resnetConfig(name) {
            config.classes = classes
            config.inputChannels = inputChannels
            return try ResNet(config)
        }
        throw OpError(op: "model", "unknown model '\(name)'; run `tricks models` for the list")
    }

    /// Which ResNet variant a name means, in words, for `tricks models`; nil for other models.
    public static func variant(_ name: String) -> String? {
        guard let config = resnetConfig(name.hasPrefix("fcn_") ? String(name.dropFirst(4)) : name) else { return nil }
        let torchvision = config.block == .bottleneck ? "ResNet-B, torchvision's and timm's" : "torchvision's"
        return config.averagePoolShortcut ? "ResNet-D" : config.stem == .deep || config.stem == .smallDeep ? "ResNet-C"
            : config.strideOn3x3 || config.block == .basic ? torchvision : "the paper's original ResNet"
    }

    /// The name a file written before plain ResNet names meant torchvision's network (ResNet-B)
    /// gave to the same network: plain bottleneck names (`resnet50`, `cifar_resnet101`,
    /// `fcn_resnet50`) were then the original ResNet, `resnet50a` today. Checkpoints and run
    /// folders record `resnetNames`; those without it are read through this.
    public static func nameBeforeTorchvisionNaming(_ name: String) -> String {
        let backbone = name.hasPrefix("fcn_") ? String(name.dropFirst(4)) : name
        guard let config = resnetConfig(backbone), config.block == .bottleneck,
              let last = backbone.last, last.isNumber else { return name }
        return name + "a"
    }

    /// What `resnetNames` records in checkpoints and config files written since plain ResNet
    /// names mean torchvision's networks.
    public static let resnetNames = "torchvision"

    /// Today's name of the model a file calls `name`, given the `resnetNames` it records (nil:
    /// none, written before).
    public static func name(_ name: String, recordedWith resnetNames: String?) -> String {
        resnetNames == nil ? nameBeforeTorchvisionNaming(name) : name
    }

    static func resnetConfig(_ name: String) -> ResNetConfig? {
        var rest = Substring(name)
        let small = rest.hasPrefix("cifar_")
        if small { rest = rest.dropFirst("cifar_".count) }
        guard rest.hasPrefix("resnet") else { return nil }
        rest = rest.dropFirst("resnet".count)
        // GluonCV's names: `_v1` is the original, `_v1b`/`_v1c`/`_v1d` the tweaks.
        if let range = rest.range(of: "_v1") {
            let letter = rest[range.upperBound...]
            guard letter.count <= 1, letter.allSatisfy({ "bcd".contains($0) }) else { return nil }
            rest = rest[..<range.lowerBound] + (letter.isEmpty ? "a" : letter)
        }
        // No suffix is torchvision's ResNet (B); `a` the paper's original.
        var tweak: Character? = "b"
        if let last = rest.last, "abcd".contains(last) {
            tweak = last == "a" ? nil : last
            rest = rest.dropLast()
        }
        guard let depth = Int(rest) else { return nil }
        var config: ResNetConfig
        if small, let cifar = ResNetConfig.cifar(depth: depth), cifarDepths.contains(depth) {
            config = cifar
        } else if var imagenet = ResNetConfig.depth(depth) {
            if small { imagenet.stem = .small }
            config = imagenet
        } else {
            return nil
        }
        if let tweak { config = config.tweaked(tweak) }
        return config
    }
}

extension ModelZoo {
    public struct Summary: Sendable {
        public var name: String
        public var parameters: Int
        /// Multiply-accumulates of one image at `inputSize` (the paper's "FLOPs").
        public var macs: Int
        public var inputSize: Int
    }

    /// Parameters and multiply-accumulates of one forward pass at the default input size.
    public static func summary(_ name: String, classes: Int = 1000, inputChannels: Int = 3, auxiliaryHead: Bool = false) throws -> Summary {
        let model = try make(name, classes: classes, inputChannels: inputChannels, auxiliaryHead: auxiliaryHead)
        model.eval()
        let size = defaultInputSize(name)
        let x = try Tensor.zeros([1, inputChannels, size, size])
        let macs = try MACCounter.measure { _ = try GradMode.withoutGradient { try model(x) } }
        return Summary(name: name, parameters: model.parameterCount, macs: macs, inputSize: size)
    }
}
