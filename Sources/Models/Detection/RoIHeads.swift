import Foundation
import NN
import Tensors

/// torchvision's `TwoMLPHead`: the pooled 7x7 features flattened, then two fully connected
/// layers with ReLU (`fc6`, `fc7`).
public final class TwoMLPHead: Module {
    public let fc6: Linear, fc7: Linear

    public init(inFeatures: Int, width: Int = 1024) throws {
        fc6 = try Linear(inFeatures, width)
        fc7 = try Linear(width, width)
    }

    override public var children: [(String, Module)] { [("fc6", fc6), ("fc7", fc7)] }

    override public func forward(_ x: Tensor) throws -> Tensor { try relu(fc7(relu(fc6(flatten(x))))) }
}

/// torchvision's `FastRCNNPredictor`: class logits (`cls_score`) and per class four box codes
/// (`bbox_pred`).
public final class FastRCNNPredictor: Module {
    public let clsScore: Linear, bboxPred: Linear

    public init(inFeatures: Int, classes: Int) throws {
        clsScore = try Linear(inFeatures, classes)
        bboxPred = try Linear(inFeatures, 4 * classes)
    }

    override public var children: [(String, Module)] { [("cls_score", clsScore), ("bbox_pred", bboxPred)] }
}

/// The box branch (`roi_heads`): MultiScaleRoIAlign (7x7, sampling ratio 2, each proposal from
/// the FPN level its size picks), the two-layer head and the predictor; and torchvision's
/// post-processing of its outputs into detections.
public final class RoIHeads: Module {
    public let boxHead: TwoMLPHead
    public let boxPredictor: FastRCNNPredictor
    public static let poolSize = 7, samplingRatio = 2

    public init(channels: Int, classes: Int, representationSize: Int = 1024) throws {
        boxHead = try TwoMLPHead(inFeatures: channels * Self.poolSize * Self.poolSize, width: representationSize)
        boxPredictor = try FastRCNNPredictor(inFeatures: representationSize, classes: classes)
    }

    override public var children: [(String, Module)] { [("box_head", boxHead), ("box_predictor", boxPredictor)] }

    /// MultiScaleRoIAlign of every image's proposals from `levels` (P2..P5): [proposals, C, 7, 7]
    /// with the proposals of image 0 first, each image's in `order` (grouped by level).
    /// torchvision's rules: a level's scale is 2^round(log2(its size / the largest image's size));
    /// a proposal's level is `RoILevels` over the levels present.
    public func pool(_ levels: [Tensor], proposals: [[Box]], sizes: [(height: Int, width: Int)]) throws -> (pooled: Tensor, order: [Int]) {
        let largest = sizes.map(\.height).max()!
        let scales = levels.map { Float(pow(2, (Foundation.log2(Float($0.shape[2]) / Float(largest))).rounded(.toNearestOrEven))) }
        let mapper = RoILevels(finest: Int(-Foundation.log2(scales[0]).rounded()), coarsest: Int(-Foundation.log2(scales[scales.count - 1]).rounded()))
        let all = proposals.enumerated().flatMap { n, boxes in boxes.map { (n, $0) } }
        let levelOf = all.map { mapper.level(of: $0.1) }
        let order = all.indices.sorted { (levelOf[$0], $0) < (levelOf[$1], $1) }
        var pieces: [Tensor] = []
        for (level, feature) in levels.enumerated() {
            let members = order.filter { levelOf[$0] == level }
            guard !members.isEmpty else { continue }
            let geometry = RoIAlignGeometry(boxes: members.flatMap { all[$0].1.values }, batchIndices: members.map { all[$0].0 },
                                            outputSize: (Self.poolSize, Self.poolSize), spatialScale: scales[level],
                                            samplingRatio: Self.samplingRatio)
            pieces.append(try roiAlign(feature, geometry))
        }
        guard !pieces.isEmpty else { throw OpError(op: "roi_heads", "no proposals to pool") }
        return (pieces.count == 1 ? pieces[0] : try concat(pieces, axis: 0), order)
    }

    /// Class logits [K x classes] and box codes [K x 4 classes] per image, for its proposals in
    /// their order.
    public func scores(_ levels: [Tensor], proposals: [[Box]], sizes: [(height: Int, width: Int)]) throws -> ([[Float]], [[Float]]) {
        let (pooled, order) = try pool(levels, proposals: proposals, sizes: sizes)
        let features = try boxHead(pooled)
        let (logits, codes) = (try boxPredictor.clsScore(features).scalars, try boxPredictor.bboxPred(features).scalars)
        let classes = boxPredictor.clsScore.weight.shape[0]
        // Rows back from the pooling order to the proposals' order, split by image.
        var (byProposalLogits, byProposalCodes) = ([Float](repeating: 0, count: logits.count), [Float](repeating: 0, count: codes.count))
        for (row, proposal) in order.enumerated() {
            for k in 0..<classes { byProposalLogits[proposal * classes + k] = logits[row * classes + k] }
            for k in 0..<(4 * classes) { byProposalCodes[proposal * 4 * classes + k] = codes[row * 4 * classes + k] }
        }
        var (start, outLogits, outCodes) = (0, [[Float]](), [[Float]]())
        for boxes in proposals {
            outLogits.append(Array(byProposalLogits[(start * classes)..<((start + boxes.count) * classes)]))
            outCodes.append(Array(byProposalCodes[(start * 4 * classes)..<((start + boxes.count) * 4 * classes)]))
            start += boxes.count
        }
        return (outLogits, outCodes)
    }

    /// torchvision's `postprocess_detections` for one image: boxes decoded per class (weights
    /// 10, 10, 5, 5) and clipped, softmax scores, the background dropped, scores over
    /// `boxScoreThreshold`, boxes under 0.01 pixels dropped, NMS per class, the best
    /// `detectionsPerImage`; boxes in the resized image's pixels.
    public func postprocess(_ logits: [Float], _ codes: [Float], proposals: [Box], size: (height: Int, width: Int),
                            settings: FasterRCNNSettings) throws -> [Detection] {
        let classes = logits.count / max(proposals.count, 1)
        let coder = BoxCoder(weights: (10, 10, 5, 5))
        var boxes: [Box] = [], scores: [Float] = [], labels: [Int] = []
        for (i, proposal) in proposals.enumerated() {
            let row = logits[(i * classes)..<((i + 1) * classes)]
            let largest = row.max()!
            let exps = row.map { Foundation.exp($0 - largest) }
            let total = exps.reduce(0, +)
            let decoded = coder.decode(Array(codes[(4 * i * classes)..<(4 * (i + 1) * classes)]),
                                       references: [Box](repeating: proposal, count: classes))
            for c in 1..<classes {
                let score = exps[c] / total
                guard score > settings.boxScoreThreshold else { continue }
                boxes.append(decoded[c].clipped(height: size.height, width: size.width))
                scores.append(score)
                labels.append(c)
            }
        }
        let big = boxesAtLeast(1e-2, in: boxes)
        let kept = try batchedNMS(big.map { boxes[$0] }, scores: big.map { scores[$0] }, classes: big.map { labels[$0] },
                              threshold: settings.boxNMSThreshold)
        return kept.prefix(settings.detectionsPerImage).map { Detection(box: boxes[big[$0]], label: labels[big[$0]], score: scores[big[$0]]) }
    }
}
