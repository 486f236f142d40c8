import NN
import Tensors

/// Models by name, as `timm.create_model` knows them:
/// - `resnet18` ... `resnet152`, each with a tweak suffix `b`, `c` or `d` (`resnet50d`);
/// - `cifar_resnet20`, `_32`, `_44`, `_56`, `_110` (He et al.'s CIFAR ResNets) and
///   `cifar_resnet18` ... `cifar_resnet152` (ImageNet ResNets with the small-image stem: one 3x3
///   stride-1 conv, no max pool), all accepting the `b`/`c`/`d` suffix;
/// - `mobilenet_v1` (width 1.0), `mobilenet_v1_075`, `_050`, `_025` (ReLU, GluonCV's);
///   `mobilenetv1_100`, `mobilenetv1_125` (ReLU6: timm's, whose weights load);
/// - `inception_v3` (299x299 input);
/// - `lenet5` (28x28 input, no BatchNorm);
/// - for segmentation, `fcn_` and a ResNet's name (`segmentationNames`).
public enum ModelZoo {
    public static let resnetDepths = [18, 34, 50, 101, 152]
    public static let cifarDepths = [20, 32, 44, 56, 110]

    /// Every name `make` accepts, in listing order.
    public static var names: [String] {
        var names: [String] = []
        for (prefix, depths) in [("resnet", resnetDepths), ("cifar_resnet", cifarDepths), ("cifar_resnet", resnetDepths)] {
            for depth in depths {
                for tweak in ["", "b", "c", "d"] { names.append("\(prefix)\(depth)\(tweak)") }
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
        if name == "lenet5" { return LeNet5(classes: classes, inputChannels: inputChannels) }
        if name == "inception_v3" { return InceptionV3(classes: classes, inputChannels: inputChannels, auxiliaryHead: auxiliaryHead) }
        if name.hasPrefix("mobilenet_v1") {
            let widths = ["mobilenet_v1": 1.0, "mobilenet_v1_100": 1.0, "mobilenet_v1_075": 0.75, "mobilenet_v1_050": 0.5, "mobilenet_v1_025": 0.25]
            if let width = widths[name] { return MobileNetV1(widthMultiplier: width, classes: classes, inputChannels: inputChannels) }
        }
        if let width = ["mobilenetv1_100": 1.0, "mobilenetv1_125": 1.25][name] {  // timm's, with ReLU6
            return MobileNetV1(widthMultiplier: width, classes: classes, inputChannels: inputChannels, activation: .relu6)
        }
        if name.hasPrefix("fcn_"), let backbone = resnetConfig(String(name.dropFirst(4))) {
            var config = backbone
            config.inputChannels = inputChannels
            return FCN(backbone: config, classes: classes, auxiliaryHead: auxiliaryHead)
        }
        if var config = resnetConfig(name) {
            config.classes = classes
            config.inputChannels = inputChannels
            return ResNet(config)
        }
        throw OpError(op: "model", "unknown model '\(name)'; run `tricks models` for the list")
    }

    static func resnetConfig(_ name: String) -> ResNetConfig? {
        var rest = Substring(name)
        let small = rest.hasPrefix("cifar_")
        if small { rest = rest.dropFirst("cifar_".count) }
        guard rest.hasPrefix("resnet") else { return nil }
        rest = rest.dropFirst("resnet".count)
        var tweak: Character?
        if let last = rest.last, "bcd".contains(last) {
            tweak = last
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
    public static func summary(_ name: String, classes: Int = 1000, inputChannels: Int = 3) throws -> Summary {
        let model = try make(name, classes: classes, inputChannels: inputChannels)
        model.eval()
        let size = defaultInputSize(name)
        let x = try Tensor.zeros([1, inputChannels, size, size])
        let macs = try MACCounter.measure { _ = try GradMode.withoutGradient { try model(x) } }
        return Summary(name: name, parameters: model.parameterCount, macs: macs, inputSize: size)
    }
}
