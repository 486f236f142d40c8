/// COCO's box AP as pycocotools' `COCOeval` computes it (area range "all", at most 100
/// detections per image and class): per image and class, detections sorted by score are matched
/// greedily at each IoU threshold 0.50, 0.55, ..., 0.95 to the best remaining ground truth (a
/// crowd box, whose IoU is the intersection over the detection's area, may take several and
/// makes them neither true nor false positives); per class, the detections of all images sorted
/// by score give precision and recall, precision is made monotone and read at the 101 recall
/// points 0, 0.01, ..., 1 (0 past the highest recall). AP is the mean over thresholds, recall
/// points and the classes with non-crowd ground truth; AP50 and AP75 at one threshold.
public struct COCOEvaluation: Sendable {
    public var classes: Int
    public var maximumDetections: Int
    struct ImageEntry: Sendable {
        var truth: [(box: Box, label: Int, crowd: Bool)]
        var detections: [Detection]
    }
    var images: [ImageEntry] = []

    /// The IoU thresholds as numpy's `linspace(0.5, 0.95, 10)`.
    static let thresholds: [Double] = (0..<10).map { (i: Int) -> Double in
        let step: Double = (0.95 - 0.5) / 9
        return i == 9 ? 0.95 : 0.5 + Double(i) * step
    }
    /// The recall points as `linspace(0, 1, 101)`.
    static let recallPoints: [Double] = (0...100).map { Double($0) * (1.0 / 100) }

    public init(classes: Int, maximumDetections: Int = 100) {
        (self.classes, self.maximumDetections) = (classes, maximumDetections)
    }

    /// Adds one image: its detections and its ground truth (`crowd` per box; all false if empty).
    public mutating func add(_ detections: [Detection], truth: [Box], labels: [Int], crowd: [Bool] = []) {
        let crowd = crowd.isEmpty ? [Bool](repeating: false, count: truth.count) : crowd
        images.append(ImageEntry(truth: truth.indices.map { (truth[$0], labels[$0], crowd[$0]) }, detections: detections))
    }

    /// pycocotools' IoU of a detection and a ground-truth box (in Double, as it computes).
    static func overlap(_ d: Box, _ g: Box, crowd: Bool) -> Double {
        let (dx, dy, dw, dh) = (Double(d.x1), Double(d.y1), Double(d.x2) - Double(d.x1), Double(d.y2) - Double(d.y1))
        let (gx, gy, gw, gh) = (Double(g.x1), Double(g.y1), Double(g.x2) - Double(g.x1), Double(g.y2) - Double(g.y1))
        let w = min(dx + dw, gx + gw) - max(dx, gx), h = min(dy + dh, gy + gh) - max(dy, gy)
        guard w > 0, h > 0 else { return 0 }
        let intersection = w * h
        return intersection / (crowd ? dw * dh : dw * dh + gw * gh - intersection)
    }

    /// One image and class: each kept detection's score, and per threshold whether it matched a
    /// box (and whether that box was a crowd); the count of non-crowd boxes.
    struct Matched {
        var scores: [Double]
        var matched: [[Bool]], ignored: [[Bool]]
        var positives: Int
    }

    func match(_ image: ImageEntry, label: Int) -> Matched? {
        // Non-crowd boxes first (a stable sort, as numpy's mergesort), then detections by score.
        let ofClass = image.truth.filter { $0.label == label }
        let truth = ofClass.filter { !$0.crowd } + ofClass.filter(\.crowd)
        let found = Array(COCOEvaluation.byScore(image.detections.filter { $0.label == label }, score: \.score).prefix(maximumDetections))
        guard !truth.isEmpty || !found.isEmpty else { return nil }
        let ious = found.map { d in truth.map { COCOEvaluation.overlap(d.box, $0.box, crowd: $0.crowd) } }
        var matched = [[Bool]](repeating: [Bool](repeating: false, count: found.count), count: COCOEvaluation.thresholds.count)
        var ignored = matched
        for (t, threshold) in COCOEvaluation.thresholds.enumerated() {
            var taken = [Bool](repeating: false, count: truth.count)
            for d in found.indices {
                var best = min(threshold, 1 - 1e-10), m = -1
                for g in truth.indices {
                    if taken[g] && !truth[g].crowd { continue }
                    // Once matched to a real box, stop at the crowds (sorted last).
                    if m > -1 && !truth[m].crowd && truth[g].crowd { break }
                    if ious[d][g] < best { continue }
                    (best, m) = (ious[d][g], g)
                }
                guard m > -1 else { continue }
                (matched[t][d], ignored[t][d], taken[m]) = (true, truth[m].crowd, true)
            }
        }
        return Matched(scores: found.map { Double($0.score) }, matched: matched, ignored: ignored, positives: truth.filter { !$0.crowd }.count)
    }

    /// Precision at the 101 recall points per threshold for one class, or nil where the class
    /// has no non-crowd ground truth (pycocotools' -1, left out of the means).
    func precisions(label: Int) -> [[Double]]? {
        let entries = images.compactMap { match($0, label: label) }
        let positives = entries.reduce(0) { $0 + $1.positives }
        guard !entries.isEmpty, positives > 0 else { return nil }
        // Every image's detections, in image order, then sorted by score (stable).
        var pooled: [(score: Double, entry: Int, index: Int)] = []
        for (e, entry) in entries.enumerated() { for i in entry.scores.indices { pooled.append((entry.scores[i], e, i)) } }
        pooled = COCOEvaluation.byScore(pooled, score: \.score)
        return COCOEvaluation.thresholds.indices.map { t in
            // An ignored detection (on a crowd) still takes a place in pycocotools' cumulative
            // sums, adding neither a true nor a false positive.
            var (recall, precision) = COCOEvaluation.withIgnoredPlaces(pooled: pooled, entries: entries, t: t, positives: positives)
            for i in stride(from: precision.count - 1, to: 0, by: -1) where precision[i] > precision[i - 1] { precision[i - 1] = precision[i] }
            return COCOEvaluation.recallPoints.map { r in
                guard let i = recall.firstIndex(where: { $0 >= r }) else { return 0 }
                return precision[i]
            }
        }
    }

    /// `items` by descending score, equal scores in their order (numpy's stable mergesort).
    static func byScore<T, S: Comparable>(_ items: [T], score: KeyPath<T, S>) -> [T] {
        items.indices.sorted { a, b in
            let (sa, sb) = (items[a][keyPath: score], items[b][keyPath: score])
            return sa != sb ? sa > sb : a < b
        }.map { items[$0] }
    }

    /// Recall and precision after each pooled detection, ignored ones included (they add neither
    /// a true nor a false positive), as pycocotools' cumulative sums over all of them.
    static func withIgnoredPlaces(pooled: [(score: Double, entry: Int, index: Int)], entries: [Matched], t: Int, positives: Int) -> ([Double], [Double]) {
        var (tp, fp) = (0.0, 0.0)
        var recall: [Double] = [], precision: [Double] = []
        for p in pooled {
            let entry = entries[p.entry]
            if !entry.ignored[t][p.index] { if entry.matched[t][p.index] { tp += 1 } else { fp += 1 } }
            recall.append(tp / Double(positives))
            precision.append(tp / (tp + fp + Double.ulpOfOne))
        }
        return (recall, precision)
    }

    /// AP@[.5:.95], AP50 and AP75 (each in [0, 1]; nil where no class has ground truth).
    public func summary() -> (ap: Double, ap50: Double, ap75: Double)? {
        let perClass = (1..<classes).compactMap { precisions(label: $0) }
        guard !perClass.isEmpty else { return nil }
        func mean(_ thresholds: [Int]) -> Double {
            let values = perClass.flatMap { p in thresholds.flatMap { p[$0] } }
            return values.reduce(0, +) / Double(values.count)
        }
        return (mean(Array(COCOEvaluation.thresholds.indices)), mean([0]), mean([5]))
    }
}
