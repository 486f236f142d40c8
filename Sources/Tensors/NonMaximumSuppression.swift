/// `torchvision.ops.nms`: `boxes` [K, 4] as (x1, y1, x2, y2) visited in order of `scores` [K]
/// (highest first, ties in index order: its stable sort), each kept unless a kept box overlaps
/// it with IoU above `threshold`. The indices kept, highest score first. Faster R-CNN's RPN runs
/// it on each image's proposals, its box head per class on the detections.
public func nonMaximumSuppression(_ boxes: Tensor, scores: Tensor, threshold: Float) throws -> [Int] {
    let op = "nms"
    guard boxes.rank == 2, boxes.shape[1] == 4 else { throw OpError(op: op, "boxes must be [K, 4] (x1, y1, x2, y2), got \(boxes.shape)") }
    guard scores.shape == [boxes.shape[0]] else { throw OpError(op: op, "scores must be [\(boxes.shape[0])], one per box, got \(scores.shape)") }
    guard boxes.device == scores.device else { throw OpError(op: op, "boxes on \(boxes.device) but scores on \(scores.device)") }
    guard threshold.isFinite else { throw OpError(op: op, "the IoU threshold must be finite, got \(threshold)") }
    guard boxes.shape[0] > 0 else { return [] }
    return try OpTimes.measure(op) {
        try boxes.backend.nms(try boxes.cast(to: .float32), scores: try scores.cast(to: .float32), threshold: threshold)
    }
}
