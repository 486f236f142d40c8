import Foundation
import NN
import Tensors

/// One detected object: its box in the original image's pixels, its class (0 is the background,
/// never reported) and its score.
public struct Detection: Equatable, Sendable, Codable {
    public var box: Box
    public var label: Int
    public var score: Float

    public init(box: Box, label: Int, score: Float) { (self.box, self.label, self.score) = (box, label, score) }
}

/// Faster R-CNN with a feature pyramid (Ren et al. 2015, Lin et al. 2017) as torchvision's
/// `fasterrcnn_resnet50_fpn` builds it, on any ResNet of the zoo: `backbone.body` (the ResNet
/// without its classifier), `backbone.fpn`, `rpn.head`, `roi_heads.box_head` (fc6, fc7) and
/// `roi_heads.box_predictor` (cls_score, bbox_pred), with torchvision's state-dict keys, so that
/// its weights load. `classes` counts the background as class 0, as torchvision's `num_classes`.
/// With `frozenBatchNorm` (torchvision's choice for a pretrained backbone) the backbone's
/// BatchNorms are `FrozenBatchNorm2d`: fixed buffers, not parameters.
public final class FasterRCNN: Module {
    public let backbone: BackboneWithFPN
    public let rpn: RegionProposalNetwork
    public let roiHeads: RoIHeads
    public let classes: Int
    public var settings: FasterRCNNSettings

    public init(backbone config: ResNetConfig, classes: Int, frozenBatchNorm: Bool = true,
                settings: FasterRCNNSettings = FasterRCNNSettings()) throws {
        guard classes >= 2 else { throw OpError(op: "fasterrcnn", "classes counts the background too: at least 2, got \(classes)") }
        var config = config
        config.classes = 0
        backbone = try BackboneWithFPN(config, frozenBatchNorm: frozenBatchNorm, channels: settings.fpnChannels)
        let levels = backbone.body.stageChannels.count + 1
        guard settings.anchorSizes.count == levels else {
            throw OpError(op: "fasterrcnn", "the pyramid has \(levels) levels (\(levels - 1) stages and the pooled one) but "
                            + "\(settings.anchorSizes.count) anchor sizes were given (--anchor-sizes): give one per level")
        }
        rpn = try RegionProposalNetwork(channels: backbone.fpn.channels, anchorsPerLocation: settings.aspectRatios.count)
        roiHeads = try RoIHeads(channels: backbone.fpn.channels, classes: classes, representationSize: settings.representationSize)
        (self.classes, self.settings) = (classes, settings)
    }

    override public var children: [(String, Module)] { [("backbone", backbone), ("rpn", rpn), ("roi_heads", roiHeads)] }

    /// torchvision's initialisation of everything but the backbone's body: the FPN's convs
    /// kaiming_uniform(a=1) (uniform in +-sqrt(3 / fan_in)), the RPN's normal with std 0.01,
    /// fc6 and fc7 PyTorch's default for linear layers (weights and biases uniform in
    /// +-1 / sqrt(fan_in)), the class scores normal with std 0.01 and the box codes 0.001; biases 0
    /// elsewhere. Without it (Xavier or Kaiming everywhere) the unnormalised heads start with
    /// losses in the hundreds and training diverges.
    public func initializeHeads(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        try backbone.fpn.initializeAsTorchvision(&generator)
        func normal(_ t: Tensor, std: Double) throws {
            try t.assign((0..<t.count).map { _ in Float(std * generator.nextNormal()) })
        }
        for conv in [rpn.head.conv.layers[0] as! Sequential].compactMap({ $0.layers[0] as? Conv2d }) + [rpn.head.clsLogits, rpn.head.bboxPred] {
            try normal(conv.weight, std: 0.01)
            try conv.bias?.assign([Float](repeating: 0, count: conv.weight.shape[0]))
        }
        for fc in [roiHeads.boxHead.fc6, roiHeads.boxHead.fc7] {
            let bound = Float(1 / Double(fc.weight.shape[1]).squareRoot())
            try fc.weight.assign((0..<fc.weight.count).map { _ in Float.random(in: -bound...bound, using: &generator) })
            try fc.bias?.assign((0..<fc.weight.shape[0]).map { _ in Float.random(in: -bound...bound, using: &generator) })
        }
        for (fc, std) in [(roiHeads.boxPredictor.clsScore, 0.01), (roiHeads.boxPredictor.bboxPred, 0.001)] {
            try normal(fc.weight, std: std)
            try fc.bias?.assign([Float](repeating: 0, count: fc.weight.shape[0]))
        }
    }

    /// The detections in each image ([3, H, W], values in [0, 1]), in evaluation mode.
    public func detect(_ images: [Tensor]) throws -> [[Detection]] {
        let transform = DetectionTransform(settings)
        let (batch, sizes) = try transform.batch(images)
        return try GradMode.withoutGradient {
            let features = try backbone.levels(batch)
            let proposals = try rpn.proposals(features, imageSize: (batch.shape[2], batch.shape[3]), sizes: sizes,
                                              settings: settings, training: false)
            let (logits, regression) = try roiHeads.scores(features.dropLast().map { $0 }, proposals: proposals, sizes: sizes)
            return try zip(images, sizes).enumerated().map { n, pair in
                let (image, size) = pair
                let found = try roiHeads.postprocess(logits[n], regression[n], proposals: proposals[n], size: size, settings: settings)
                let original = (image.shape[1], image.shape[2])
                let boxes = DetectionTransform.resize(found.map(\.box), from: size, to: original)
                return zip(found, boxes).map { Detection(box: $1, label: $0.label, score: $0.score) }
            }
        }
    }
}

/// The ResNet (`body`) and the feature pyramid over its four stages (`fpn`), as torchvision's
/// `BackboneWithFPN`: levels P2 to P5 and the pooled P6, 256 channels each.
public final class BackboneWithFPN: Module {
    public let body: ResNet
    public let fpn: FeaturePyramidNetwork

    public init(_ config: ResNetConfig, frozenBatchNorm: Bool, channels: Int = 256) throws {
        body = try ResNet(config)
        if frozenBatchNorm {
            for case let (_, bn as BatchNorm2d) in body.namedModules() { bn.freeze() }
        }
        fpn = try FeaturePyramidNetwork(inChannels: body.stageChannels, channels: channels)
    }

    override public var children: [(String, Module)] { [("body", body), ("fpn", fpn)] }

    public func levels(_ x: Tensor) throws -> [Tensor] { try fpn.levels(body.stageOutputs(x)) }
}
