/// Pascal VOC's average precision at an IoU threshold, as GluonCV's `VOC07MApMetric` and
/// `VOCMApMetric` compute it (the paper's Table 8 numbers): per class, detections of every image
/// sorted by score; a detection whose best ground-truth box overlaps it by IoU >= 0.5 (boxes in
/// pixel edges, no +1) is a true positive if that box is not yet taken, neither true nor false if
/// the box is `difficult`, else a false positive. Recall counts the non-difficult boxes. AP is
/// the 11-point mean of the best precision at recall >= 0, 0.1, ..., 1 (VOC 2007), or the area
/// under the monotone precision envelope (VOC 2010 on); mAP the mean over the classes that have
/// ground truth.
public struct VOCEvaluation: Sendable {
    public var classes: Int
    public var iouThreshold: Float
    /// Per class (index 0, the background, unused): (score, true positive: 1, false: 0, ignored: -1).
    var matches: [[(score: Float, match: Int)]]
    /// Per class: the non-difficult ground-truth boxes seen.
    var positives: [Int]

    public init(classes: Int, iouThreshold: Float = 0.5) {
        (self.classes, self.iouThreshold) = (classes, iouThreshold)
        matches = Array(repeating: [], count: classes)
        positives = Array(repeating: 0, count: classes)
    }

    /// Adds one image's detections and ground truth (`difficult` per box; all false if empty).
    public mutating func add(_ detections: [Detection], truth: [Box], labels: [Int], difficult: [Bool] = []) {
        let difficult = difficult.isEmpty ? [Bool](repeating: false, count: truth.count) : difficult
        for c in 1..<classes {
            let gt = truth.indices.filter { labels[$0] == c }
            positives[c] += gt.filter { !difficult[$0] }.count
            let found = detections.filter { $0.label == c }.sorted { $0.score > $1.score }
            var taken = [Bool](repeating: false, count: gt.count)
            for d in found {
                let ious = gt.map { iou(d.box, truth[$0]) }
                guard let best = ious.indices.max(by: { ious[$0] < ious[$1] }),  // the first of equal overlaps, as argmax
                      ious[best] >= iouThreshold else {
                    matches[c].append((d.score, 0))
                    continue
                }
                matches[c].append((d.score, difficult[gt[best]] ? -1 : taken[best] ? 0 : 1))
                taken[best] = true
            }
        }
    }

    /// AP per class (nil where a class has no ground truth), 11-point (VOC 2007) or area.
    public func averagePrecisions(elevenPoint: Bool) -> [Double?] {
        (0..<classes).map { c -> Double? in
            guard c > 0, positives[c] > 0 else { return nil }
            let ranked = matches[c].filter { $0.match >= 0 }.sorted { $0.score > $1.score }
            var (tp, fp) = (0, 0)
            var recall: [Double] = [], precision: [Double] = []
            for m in ranked {
                if m.match == 1 { tp += 1 } else { fp += 1 }
                recall.append(Double(tp) / Double(positives[c]))
                precision.append(Double(tp) / Double(tp + fp))
            }
            if elevenPoint {
                var ap = 0.0
                for step in 0...10 {
                    let t = Double(step) / 10
                    var best = 0.0
                    for (r, p) in zip(recall, precision) where r >= t { best = max(best, p) }
                    ap += best / 11
                }
                return ap
            }
            let r: [Double] = [0] + recall + [1]
            var p: [Double] = [0] + precision + [0]
            for i in stride(from: p.count - 2, through: 0, by: -1) { p[i] = max(p[i], p[i + 1]) }
            var area = 0.0
            for i in 0..<(r.count - 1) where r[i + 1] != r[i] { area += (r[i + 1] - r[i]) * p[i + 1] }
            return area
        }
    }

    /// The mean AP over the classes with ground truth (nil if none has any).
    public func meanAveragePrecision(elevenPoint: Bool) -> Double? {
        let present = averagePrecisions(elevenPoint: elevenPoint).compactMap { $0 }
        return present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
    }
}
