import Foundation
import NN
import Tensors

/// torchvision's `RPNHead`: a shared 3x3 conv and ReLU (`conv.0.0`), then per anchor an
/// objectness logit (`cls_logits`) and four box codes (`bbox_pred`), on every FPN level.
public final class RPNHead: Module {
    public let conv: Sequential, clsLogits: Conv2d, bboxPred: Conv2d

    public init(channels: Int, anchorsPerLocation: Int) throws {
        conv = Sequential([Sequential([try Conv2d(channels, channels, kernel: 3, padding: 1, bias: true), ReLU()])])
        clsLogits = try Conv2d(channels, anchorsPerLocation, kernel: 1, bias: true)
        bboxPred = try Conv2d(channels, 4 * anchorsPerLocation, kernel: 1, bias: true)
    }

    override public var children: [(String, Module)] { [("conv", conv), ("cls_logits", clsLogits), ("bbox_pred", bboxPred)] }

    /// Per level: objectness [N, A, H, W] and box codes [N, 4A, H, W].
    public func outputs(_ levels: [Tensor]) throws -> [(objectness: Tensor, codes: Tensor)] {
        try levels.map { level in
            let t = try conv(level)
            return (try clsLogits(t), try bboxPred(t))
        }
    }
}

/// The region proposal network (`rpn`): its head and what turns the head's outputs into
/// proposals (torchvision's `RegionProposalNetwork.filter_proposals`).
public final class RegionProposalNetwork: Module {
    public let head: RPNHead

    public init(channels: Int, anchorsPerLocation: Int) throws {
        head = try RPNHead(channels: channels, anchorsPerLocation: anchorsPerLocation)
    }

    override public var children: [(String, Module)] { [("head", head)] }

    /// One image's anchors with their objectness logits and box codes, level by level, in
    /// torchvision's order (location by location, then anchor).
    public struct LevelOutputs {
        public var anchors: [Box]
        public var logits: [Float]
        public var codes: [Float]
    }

    /// The anchors of a batch padded to `imageSize` whose pyramid has `features`' sizes.
    public func anchors(_ features: [Tensor], imageSize: (height: Int, width: Int), settings: FasterRCNNSettings) throws -> [[Box]] {
        let generator = AnchorGenerator(sizes: settings.anchorSizes, aspectRatios: settings.aspectRatios)
        guard features.count == generator.sizes.count else {
            throw OpError(op: "rpn", "\(features.count) feature levels but \(generator.sizes.count) anchor sizes (--anchor-sizes gives one per level)")
        }
        return generator.anchors(imageSize: imageSize, featureSizes: features.map { ($0.shape[2], $0.shape[3]) })
    }

    /// The head's outputs copied to the host for each image of the batch, beside the anchors.
    public func hostOutputs(_ outputs: [(objectness: Tensor, codes: Tensor)], anchors: [[Box]]) throws -> [[LevelOutputs]] {
        let batch = outputs[0].objectness.shape[0]
        var perImage = [[LevelOutputs]](repeating: [], count: batch)
        for (level, output) in outputs.enumerated() {
            let (a, h, w) = (output.objectness.shape[1], output.objectness.shape[2], output.objectness.shape[3])
            let (logits, codes) = (try output.objectness.scalars, try output.codes.scalars)
            for n in 0..<batch {
                // [N, A, H, W] and [N, A * 4, H, W] to (H, W, A) and (H, W, A, 4).
                var l = [Float](repeating: 0, count: h * w * a), c = [Float](repeating: 0, count: h * w * a * 4)
                for anchor in 0..<a {
                    for y in 0..<h {
                        for x in 0..<w {
                            let location = (y * w + x) * a + anchor
                            l[location] = logits[((n * a + anchor) * h + y) * w + x]
                            for k in 0..<4 { c[4 * location + k] = codes[((n * 4 * a + 4 * anchor + k) * h + y) * w + x] }
                        }
                    }
                }
                perImage[n].append(LevelOutputs(anchors: anchors[level], logits: l, codes: c))
            }
        }
        return perImage
    }

    /// Proposals per image: on each level the `preNMSTopN` anchors of highest objectness decoded,
    /// clipped to the image, boxes under 1e-3 pixels dropped, NMS per level at `rpnNMSThreshold`
    /// on the sigmoid scores, and the best `postNMSTopN` kept.
    public func proposals(_ features: [Tensor], imageSize: (height: Int, width: Int), sizes: [(height: Int, width: Int)],
                          settings: FasterRCNNSettings, training: Bool) throws -> [[Box]] {
        let outputs = try head.outputs(features)
        let perImage = try hostOutputs(outputs, anchors: anchors(features, imageSize: imageSize, settings: settings))
        return try proposals(perImage, sizes: sizes, settings: settings, training: training)
    }

    /// Proposals from the head's outputs already on the host (`hostOutputs`).
    public func proposals(_ perImage: [[LevelOutputs]], sizes: [(height: Int, width: Int)], settings: FasterRCNNSettings,
                          training: Bool) throws -> [[Box]] {
        let coder = BoxCoder(weights: (1, 1, 1, 1))
        let (preNMS, postNMS) = training ? (settings.rpnPreNMSTopNTrain, settings.rpnPostNMSTopNTrain)
                                         : (settings.rpnPreNMSTopNTest, settings.rpnPostNMSTopNTest)
        return try zip(perImage, sizes).map { levels, size in
            var boxes: [Box] = [], scores: [Float] = [], levelOf: [Int] = []
            for (level, outputs) in levels.enumerated() {
                let top = topIndices(outputs.logits, count: min(preNMS, outputs.logits.count))
                let codes = top.flatMap { outputs.codes[(4 * $0)..<(4 * $0 + 4)] }
                boxes += coder.decode(codes, references: top.map { outputs.anchors[$0] })
                scores += top.map { sigmoid(outputs.logits[$0]) }
                levelOf += [Int](repeating: level, count: top.count)
            }
            boxes = boxes.map { $0.clipped(height: size.height, width: size.width) }
            let kept = boxesAtLeast(1e-3, in: boxes).filter { scores[$0] >= settings.rpnScoreThreshold }
            let picked = try batchedNMS(kept.map { boxes[$0] }, scores: kept.map { scores[$0] }, classes: kept.map { levelOf[$0] },
                                    threshold: settings.rpnNMSThreshold)
            return picked.prefix(postNMS).map { boxes[kept[$0]] }
        }
    }
}

/// The indices of the `count` largest values, largest first (ties in index order).
func topIndices(_ values: [Float], count: Int) -> [Int] {
    Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(count))
}

/// 1 / (1 + e^-x) in Float32.
func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
