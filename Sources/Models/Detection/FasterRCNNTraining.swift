import NN
import Tensors

/// One image's objects: boxes in its pixels and their classes (1 ... classes - 1; 0 is the
/// background). An image with no objects trains too: all its anchors and proposals are background.
public struct DetectionTarget: Sendable, Equatable, Codable {
    public var boxes: [Box]
    public var labels: [Int]

    public init(boxes: [Box], labels: [Int]) { (self.boxes, self.labels) = (boxes, labels) }
}

/// torchvision's four training losses, each a [1] tensor on the tape.
public struct FasterRCNNLosses {
    public var objectness: Tensor, rpnBox: Tensor, classifier: Tensor, box: Tensor

    /// Their sum, what training minimises (torchvision weighs them equally).
    public func total() throws -> Tensor { try add(add(objectness, rpnBox), add(classifier, box)) }

    /// Named as torchvision's loss dict names them.
    public func values() throws -> [(String, Double)] {
        [("loss_objectness", Double(try objectness.item())), ("loss_rpn_box_reg", Double(try rpnBox.item())),
         ("loss_classifier", Double(try classifier.item())), ("loss_box_reg", Double(try box.item()))]
    }
}

/// torchvision's `Matcher`: for each prediction the ground-truth box it overlaps most, -1 where
/// that IoU is under `low` (background), -2 where it is in [low, high) (ignored); with
/// `lowQuality`, every prediction that is some box's best match keeps that match anyway.
public func fasterRCNNMatch(_ truths: [Box], _ predictions: [Box], high: Float, low: Float, lowQuality: Bool) -> [Int] {
    guard !truths.isEmpty else { return [Int](repeating: -1, count: predictions.count) }
    let quality = boxIoU(truths, predictions), count = predictions.count
    var matches = [Int](repeating: 0, count: count), best = [Float](repeating: -1, count: count)
    for p in 0..<count {
        for g in truths.indices where quality[g * count + p] > best[p] { (best[p], matches[p]) = (quality[g * count + p], g) }
    }
    let all = matches
    for p in 0..<count where best[p] < high { matches[p] = best[p] < low ? -1 : -2 }
    if lowQuality {
        for g in truths.indices {
            let highest = (0..<count).map { quality[g * count + $0] }.max() ?? 0
            for p in 0..<count where quality[g * count + p] == highest { matches[p] = all[p] }
        }
    }
    return matches
}

/// torchvision's `BalancedPositiveNegativeSampler`: up to `size` x `positiveFraction` of the
/// positives (label >= 1) at random, the rest of `size` from the negatives (label 0); the
/// indices chosen, positives first.
func sample(_ labels: [Int], size: Int, positiveFraction: Float, generator: inout SeededGenerator) -> (positive: [Int], negative: [Int]) {
    var positive = labels.indices.filter { labels[$0] >= 1 }, negative = labels.indices.filter { labels[$0] == 0 }
    let positives = min(positive.count, Int(Float(size) * positiveFraction))
    let negatives = min(negative.count, size - positives)
    positive.shuffle(using: &generator)
    negative.shuffle(using: &generator)
    return (Array(positive.prefix(positives)), Array(negative.prefix(negatives)))
}

extension FasterRCNN {
    /// The training losses of a batch: `images` [3, H, W] in [0, 1], `targets` in their pixels.
    /// The backbone, the FPN and both heads are on the tape; proposals are constants, as in
    /// torchvision. `generator` draws the sampled anchors and proposals.
    public func losses(_ images: [Tensor], targets: [DetectionTarget], generator: inout SeededGenerator) throws -> FasterRCNNLosses {
        guard images.count == targets.count else {
            throw OpError(op: "fasterrcnn", "\(images.count) images but \(targets.count) targets")
        }
        for (n, target) in targets.enumerated() {
            guard target.boxes.count == target.labels.count else {
                throw OpError(op: "fasterrcnn", "image \(n): \(target.boxes.count) boxes but \(target.labels.count) labels")
            }
            if let bad = target.labels.first(where: { !(1..<classes).contains($0) }) {
                throw OpError(op: "fasterrcnn", "image \(n): label \(bad) is not an object class (1 to \(classes - 1); 0 is the background)")
            }
            if let bad = target.boxes.first(where: { !($0.x2 > $0.x1 && $0.y2 > $0.y1) }) {
                throw OpError(op: "fasterrcnn", "image \(n): box \(bad) has no area (x2 must exceed x1 and y2 y1)")
            }
        }
        let (batch, sizes) = try DetectionTransform(settings).batch(images)
        let scaled = zip(zip(images, targets), sizes).map { pair, size in
            DetectionTarget(boxes: DetectionTransform.resize(pair.1.boxes, from: (pair.0.shape[1], pair.0.shape[2]), to: size),
                            labels: pair.1.labels)
        }
        let features = try backbone.levels(batch)
        let outputs = try rpn.head.outputs(features)
        let anchors = try rpn.anchors(features, imageSize: (batch.shape[2], batch.shape[3]), settings: settings)
        let host = try rpn.hostOutputs(outputs, anchors: anchors)
        let (objectness, rpnBox) = try rpnLosses(outputs, anchors: anchors, targets: scaled, generator: &generator)
        let proposals = try rpn.proposals(host, sizes: sizes, settings: settings, training: true)
        let (classifier, box) = try boxLosses(features.dropLast().map { $0 }, proposals: proposals, sizes: sizes, targets: scaled,
                                              generator: &generator)
        return FasterRCNNLosses(objectness: objectness, rpnBox: rpnBox, classifier: classifier, box: box)
    }

    /// The RPN's losses: anchors matched at IoU 0.7 / 0.3 (with low-quality matches), 256 sampled
    /// per image, half positive at most; BCE of the objectness over the sampled, smooth L1 of the
    /// positives' codes, both divided by the number sampled in the batch.
    func rpnLosses(_ outputs: [(objectness: Tensor, codes: Tensor)], anchors: [[Box]], targets: [DetectionTarget],
                   generator: inout SeededGenerator) throws -> (Tensor, Tensor) {
        let coder = BoxCoder(weights: (1, 1, 1, 1))
        let all = anchors.flatMap { $0 }
        let a = settings.aspectRatios.count
        var objectness = outputs.map { [Float](repeating: 0, count: $0.objectness.count) }
        var objectnessWeights = objectness
        var codes = outputs.map { [Float](repeating: 0, count: $0.codes.count) }
        var codeWeights = codes
        var sampledCount = 0
        for (n, target) in targets.enumerated() {
            let matches = fasterRCNNMatch(target.boxes, all, high: settings.rpnForegroundIoU, low: settings.rpnBackgroundIoU, lowQuality: true)
            let labels = matches.map { $0 >= 0 ? 1 : $0 == -1 ? 0 : -1 }
            let (positive, negative) = sample(labels, size: settings.rpnBatchSizePerImage, positiveFraction: settings.rpnPositiveFraction,
                                              generator: &generator)
            sampledCount += positive.count + negative.count
            let positiveCodes = coder.encode(positive.map { target.boxes[matches[$0]] }, proposals: positive.map { all[$0] })
            // Anchor index (level, (y, x, anchor)) to the head's [N, A, H, W] and [N, 4A, H, W].
            func place(_ index: Int) -> (level: Int, objectness: Int, code: (Int) -> Int) {
                var (level, i) = (0, index)
                while i >= anchors[level].count { (i, level) = (i - anchors[level].count, level + 1) }
                let (h, w) = (outputs[level].objectness.shape[2], outputs[level].objectness.shape[3])
                let (location, anchor) = (i / a, i % a)
                let (y, x) = (location / w, location % w)
                return (level, ((n * a + anchor) * h + y) * w + x, { k in ((n * 4 * a + 4 * anchor + k) * h + y) * w + x })
            }
            for (j, index) in positive.enumerated() {
                let p = place(index)
                (objectness[p.level][p.objectness], objectnessWeights[p.level][p.objectness]) = (1, 1)
                for k in 0..<4 { (codes[p.level][p.code(k)], codeWeights[p.level][p.code(k)]) = (positiveCodes[4 * j + k], 1) }
            }
            for index in negative {
                let p = place(index)
                objectnessWeights[p.level][p.objectness] = 1
            }
        }
        let divisor = Float(max(sampledCount, 1))
        var objectnessLoss: Tensor?, boxLoss: Tensor?
        for (level, output) in outputs.enumerated() {
            let o = try binaryCrossEntropyWithLogits(output.objectness, LossSelection(targets: objectness[level], weights: objectnessWeights[level], divisor: divisor))
            let b = try smoothL1Loss(output.codes, LossSelection(targets: codes[level], weights: codeWeights[level], divisor: divisor), beta: 1.0 / 9)
            objectnessLoss = try objectnessLoss.map { try add($0, o) } ?? o
            boxLoss = try boxLoss.map { try add($0, b) } ?? b
        }
        return (objectnessLoss!, boxLoss!)
    }

    /// The box head's losses: the ground-truth boxes added to each image's proposals, matched at
    /// IoU 0.5, 512 sampled per image with a quarter positive at most; cross-entropy over the
    /// sampled, smooth L1 of the positives' codes for their class (weights 10, 10, 5, 5), divided
    /// by the number sampled.
    func boxLosses(_ levels: [Tensor], proposals: [[Box]], sizes: [(height: Int, width: Int)], targets: [DetectionTarget],
                   generator: inout SeededGenerator) throws -> (Tensor, Tensor) {
        let coder = BoxCoder(weights: (10, 10, 5, 5))
        var sampled: [[Box]] = [], labels: [Int] = [], codeTargets: [[Float]] = []
        for (boxes, target) in zip(proposals, targets) {
            let candidates = boxes + target.boxes
            let matches = fasterRCNNMatch(target.boxes, candidates, high: settings.boxForegroundIoU, low: settings.boxBackgroundIoU, lowQuality: false)
            let classes = matches.map { $0 >= 0 ? target.labels[$0] : $0 == -1 ? 0 : -1 }
            let (positive, negative) = sample(classes, size: settings.boxBatchSizePerImage, positiveFraction: settings.boxPositiveFraction,
                                              generator: &generator)
            let chosen = positive + negative
            sampled.append(chosen.map { candidates[$0] })
            labels += chosen.map { classes[$0] }
            let encoded = coder.encode(positive.map { target.boxes[matches[$0]] }, proposals: positive.map { candidates[$0] })
            codeTargets += positive.indices.map { Array(encoded[(4 * $0)..<(4 * $0 + 4)]) } + negative.map { _ in [0, 0, 0, 0] }
        }
        let (pooled, order) = try roiHeads.pool(levels, proposals: sampled, sizes: sizes)
        let features = try roiHeads.boxHead(pooled)
        let (logits, regression) = (try roiHeads.boxPredictor.clsScore(features), try roiHeads.boxPredictor.bboxPred(features))
        // Row r of the head's outputs is sampled proposal order[r].
        let rowLabels = order.map { labels[$0] }
        let classifier = try crossEntropy(logits, labels: rowLabels)
        var targetsByRow = [Float](repeating: 0, count: regression.count), weights = targetsByRow
        for (row, proposal) in order.enumerated() where labels[proposal] > 0 {
            for k in 0..<4 {
                targetsByRow[row * 4 * classes + 4 * labels[proposal] + k] = codeTargets[proposal][k]
                weights[row * 4 * classes + 4 * labels[proposal] + k] = 1
            }
        }
        let box = try smoothL1Loss(regression, LossSelection(targets: targetsByRow, weights: weights, divisor: Float(max(order.count, 1))),
                                   beta: 1.0 / 9)
        return (classifier, box)
    }

    /// Trains only the last `layers` stages of the backbone's body (torchvision's
    /// `trainable_backbone_layers`: 0 freezes the whole body, 5 trains it all, the stem included).
    public func trainBackboneLayers(_ layers: Int) throws {
        guard (0...5).contains(layers) else { throw OpError(op: "fasterrcnn", "trainable backbone layers must be 0 to 5, got \(layers)") }
        let stages = backbone.body.stageChannels.count
        let trained = (["layer4", "layer3", "layer2", "layer1", "conv1"].filter { name in
            name == "conv1" || Int(name.dropFirst(5))! <= stages
        }).prefix(layers) + (layers == 5 ? ["bn1"] : [])
        for (name, parameter) in backbone.body.namedParameters() {
            parameter.requiresGrad = trained.contains { name.hasPrefix($0 + ".") || name == $0 }
        }
    }
}
