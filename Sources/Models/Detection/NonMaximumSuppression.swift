import Tensors

/// Non-maximum suppression as `torchvision.ops.nms`, by the backend of the current device
/// (`nonMaximumSuppression`): the boxes in order of score (highest first,
/// ties in index order, as its stable sort), each kept unless a kept box overlaps it with IoU
/// above `threshold`. The indices of the kept boxes, highest score first.
public func nms(_ boxes: [Box], scores: [Float], threshold: Float) throws -> [Int] {
    guard boxes.count == scores.count else { throw OpError(op: "nms", "\(boxes.count) boxes and \(scores.count) scores") }
    guard !boxes.isEmpty else { return [] }
    let device = Device.current
    return try nonMaximumSuppression(Tensor(shape: [boxes.count, 4], scalars: boxes.flatMap { [$0.x1, $0.y1, $0.x2, $0.y2] }, device: device),
                                     scores: Tensor(shape: [scores.count], scalars: scores, device: device), threshold: threshold)
}

/// NMS within each class (`torchvision.ops.batched_nms`): boxes of different `classes` never
/// suppress one another. As torchvision does on the CPU, up to 1,000 boxes are offset by class so
/// that one NMS serves (its coordinates, hence its rounding), more are suppressed class by class;
/// the indices kept, highest score first.
public func batchedNMS(_ boxes: [Box], scores: [Float], classes: [Int], threshold: Float) throws -> [Int] {
    guard boxes.count == scores.count, boxes.count == classes.count else {
        throw OpError(op: "batched_nms", "\(boxes.count) boxes, \(scores.count) scores and \(classes.count) classes")
    }
    guard !boxes.isEmpty else { return [] }
    if boxes.count * 4 <= 4000 {
        let largest = boxes.map { max(max($0.x1, $0.y1), max($0.x2, $0.y2)) }.max()!
        let shifted = zip(boxes, classes).map { box, c in
            let offset = Float(c) * (largest + 1)
            return Box(box.x1 + offset, box.y1 + offset, box.x2 + offset, box.y2 + offset)
        }
        return try nms(shifted, scores: scores, threshold: threshold)
    }
    var kept: [Int] = []
    for c in Set(classes) {
        let members = classes.indices.filter { classes[$0] == c }
        kept += try nms(members.map { boxes[$0] }, scores: members.map { scores[$0] }, threshold: threshold).map { members[$0] }
    }
    return kept.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
}
