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

    /// One model of the zoo: its name, the input side it is designed for, and how to build it
    /// (zeroed weights) for a number of classes and input channels, with or without the
    /// auxiliary head (Inception's; FCN's).
    public struct Entry: Sendable {
        public let name: String
        public let inputSize: Int
        let build: @Sendable (_ classes: Int, _ inputChannels: Int, _ auxiliaryHead: Bool) throws -> Module
    }

    /// The zoo: every distinct model, in listing order. Each ResNet appears once per network (the
    /// `a` name only for the bottleneck depths, where it differs from the plain name); `b`,
    /// GluonCV's names and `fcn_` with any ResNet name are read by `entry(_:)`.
    public static let table: [Entry] = {
        var entries: [Entry] = []
        for (prefix, depths) in [("resnet", resnetDepths), ("cifar_resnet", cifarDepths), ("cifar_resnet", resnetDepths)] {
            for depth in depths {
                let bottleneck = ResNetConfig.depth(depth)?.block == .bottleneck && !(prefix == "cifar_resnet" && cifarDepths.contains(depth))
                for tweak in bottleneck ? ["", "a", "c", "d"] : ["", "c", "d"] { entries.append(resnetEntry("\(prefix)\(depth)\(tweak)")!) }
            }
        }
        // GluonCV's MobileNets (ReLU), then timm's (ReLU6, whose weights load).
        for (name, width) in [("mobilenet_v1", 1.0), ("mobilenet_v1_075", 0.75), ("mobilenet_v1_050", 0.5), ("mobilenet_v1_025", 0.25)] {
            entries.append(Entry(name: name, inputSize: 224) { classes, channels, _ in
                try MobileNetV1(widthMultiplier: width, classes: classes, inputChannels: channels)
            })
        }
        for (name, width) in [("mobilenetv1_100", 1.0), ("mobilenetv1_125", 1.25)] {
            entries.append(Entry(name: name, inputSize: 224) { classes, channels, _ in
                try MobileNetV1(widthMultiplier: width, classes: classes, inputChannels: channels, activation: .relu6)
            })
        }
        entries.append(Entry(name: "inception_v3", inputSize: 299) { try InceptionV3(classes: $0, inputChannels: $1, auxiliaryHead: $2) })
        entries.append(Entry(name: "lenet5", inputSize: 28) { classes, channels, _ in try LeNet5(classes: classes, inputChannels: channels) })
        return entries
    }()

    /// Every distinct model, in listing order.
    public static var names: [String] { table.map(\.name) }

    /// The entry a name means: a name of the table, an alias (`mobilenet_v1_100`; a ResNet's:
    /// `resnet50b`, `resnet50_v1d`), or `fcn_` and a ResNet's name; nil for anything else.
    public static func entry(_ name: String) -> Entry? {
        if let entry = table.first(where: { $0.name == (name == "mobilenet_v1_100" ? "mobilenet_v1" : name) }) { return entry }
        if name.hasPrefix("fcn_"), let config = resnetConfig(backboneName(name)) {
            let inputSize = entry(backboneName(name))?.inputSize ?? 224
            return Entry(name: name, inputSize: inputSize) { classes, channels, auxiliary in
                var backbone = config
                backbone.inputChannels = channels
                return try FCN(backbone: backbone, classes: classes, auxiliaryHead: auxiliary)
            }
        }
        if name.hasPrefix("fasterrcnn_"), name.hasSuffix("_fpn") {
            let backbone = backboneName(name)
            guard let config = resnetConfig(backbone) else { return nil }
            let small = backbone.hasPrefix("cifar_")
            return Entry(name: name, inputSize: small ? 128 : 800) { classes, channels, _ in
                var body = config
                body.inputChannels = channels
                var settings = small ? FasterRCNNSettings.smallImages(levels: body.layers.count + 1) : FasterRCNNSettings()
                if channels != settings.imageMean.count {  // ImageNet's statistics averaged over the colours
                    (settings.imageMean, settings.imageStd) = ([Float](repeating: 0.449, count: channels), [Float](repeating: 0.226, count: channels))
                }
                return try FasterRCNN(backbone: body, classes: classes, settings: settings)
            }
        }
        return resnetEntry(name)
    }

    /// Detection models listed by `tricks models` (`entry` knows `fasterrcnn_` with any ResNet
    /// name and `_fpn`, as `fasterrcnn_resnet101d_fpn`).
    public static var detectionNames: [String] {
        resnetDepths.map { "fasterrcnn_resnet\($0)_fpn" } + ["fasterrcnn_resnet50d_fpn", "fasterrcnn_cifar_resnet20_fpn"]
    }

    static func resnetEntry(_ name: String) -> Entry? {
        guard let config = resnetConfig(name) else { return nil }
        return Entry(name: name, inputSize: name.hasPrefix("cifar_") ? 32 : 224) { classes, channels, _ in
            var config = config
            (config.classes, config.inputChannels) = (classes, channels)
            return try ResNet(config)
        }
    }

    /// Segmentation models: `fcn_` and any ResNet name (`fcn_resnet50d`, `fcn_cifar_resnet20`).
    public static var segmentationNames: [String] { names.filter { resnetConfig($0) != nil }.map { "fcn_" + $0 } }

    /// The input side length the model is designed for (224 for a name the zoo does not know).
    public static func defaultInputSize(_ name: String) -> Int { entry(name)?.inputSize ?? 224 }

    /// Models for small images (CIFAR, MNIST) train with the small augmentation by default.
    public static func isSmallImageModel(_ name: String) -> Bool { defaultInputSize(name) < 64 }

    /// Builds a model with zeroed weights; call `initialize` (or load weights) next. Every
    /// model is checked to list all the state it holds (`checkStateIsRegistered`).
    public static func make(_ name: String, classes: Int = 1000, inputChannels: Int = 3, auxiliaryHead: Bool = false) throws -> Module {
        guard classes >= 1 else { throw OpError(op: "model", "classes must be at least 1, got \(classes)") }
        guard inputChannels >= 1 else { throw OpError(op: "model", "input channels must be at least 1, got \(inputChannels)") }
        guard let entry = entry(name) else { throw OpError(op: "model", "unknown model '\(name)'; run `tricks models` for the list") }
        let model = try entry.build(classes, inputChannels, auxiliaryHead)
        try model.checkStateIsRegistered()
        return model
    }

    /// The ResNet inside a segmentation or detection name (`fcn_resnet50` and
    /// `fasterrcnn_resnet50_fpn`: `resnet50`), or the name itself.
    public static func backboneName(_ name: String) -> String {
        if name.hasPrefix("fcn_") { return String(name.dropFirst("fcn_".count)) }
        if name.hasPrefix("fasterrcnn_"), name.hasSuffix("_fpn") { return String(name.dropFirst("fasterrcnn_".count).dropLast("_fpn".count)) }
        return name
    }

    /// Which ResNet variant a name means, in words, for `tricks models`; nil for other models.
    public static func variant(_ name: String) -> String? {
        guard let config = resnetConfig(backboneName(name)) else { return nil }
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

    public static func resnetConfig(_ name: String) -> ResNetConfig? {
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
        let macs: Int
        if let detector = model as? FasterRCNN {
            // One blank image through the whole detector: transform, backbone, RPN, box head.
            let image = try Tensor.zeros([inputChannels, size, size])
            macs = try MACCounter.measure { _ = try detector.detect([image]) }
        } else {
            let x = try Tensor.zeros([1, inputChannels, size, size])
            macs = try MACCounter.measure { _ = try GradMode.withoutGradient { try model(x) } }
        }
        return Summary(name: name, parameters: model.parameterCount, macs: macs, inputSize: size)
    }
}
