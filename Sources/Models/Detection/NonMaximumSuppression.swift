/// Non-maximum suppression as `torchvision.ops.nms`: the boxes in order of score (highest first,
/// ties in index order, as its stable sort), each kept unless a kept box overlaps it with IoU
/// above `threshold`. The indices of the kept boxes, highest score first.
public func nms(_ boxes: [Box], scores: [Float], threshold: Float) -> [Int] {
    precondition(boxes.count == scores.count, "nms: \(boxes.count) boxes and \(scores.count) scores")
    let order = boxes.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    let areas = boxes.map(\.area)
    var suppressed = [Bool](repeating: false, count: boxes.count), keep: [Int] = []
    for (position, i) in order.enumerated() where !suppressed[i] {
        keep.append(i)
        let a = boxes[i]
        for j in order[(position + 1)...] where !suppressed[j] {
            let b = boxes[j]
            let w = max(min(a.x2, b.x2) - max(a.x1, b.x1), 0), h = max(min(a.y2, b.y2) - max(a.y1, b.y1), 0)
            let intersection = w * h
            if intersection / (areas[i] + areas[j] - intersection) > threshold { suppressed[j] = true }
        }
    }
    return keep
}

/// NMS within each class (`torchvision.ops.batched_nms`): boxes of different `classes` never
/// suppress one another. As torchvision does on the CPU, up to 1,000 boxes are offset by class so
/// that one NMS serves (its coordinates, hence its rounding), more are suppressed class by class;
/// the indices kept, highest score first.
public func batchedNMS(_ boxes: [Box], scores: [Float], classes: [Int], threshold: Float) -> [Int] {
    precondition(boxes.count == scores.count && boxes.count == classes.count, "batched_nms: counts differ")
    guard !boxes.isEmpty else { return [] }
    if boxes.count * 4 <= 4000 {
        let largest = boxes.map { max(max($0.x1, $0.y1), max($0.x2, $0.y2)) }.max()!
        let shifted = zip(boxes, classes).map { box, c in
            let offset = Float(c) * (largest + 1)
            return Box(box.x1 + offset, box.y1 + offset, box.x2 + offset, box.y2 + offset)
        }
        return nms(shifted, scores: scores, threshold: threshold)
    }
    var kept: [Int] = []
    for c in Set(classes) {
        let members = classes.indices.filter { classes[$0] == c }
        kept += nms(members.map { boxes[$0] }, scores: members.map { scores[$0] }, threshold: threshold).map { members[$0] }
    }
    return kept.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
}
