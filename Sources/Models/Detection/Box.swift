/// A box as torchvision holds one: corners (x1, y1) and (x2, y2) in pixels, x2 > x1 and y2 > y1
/// for a proper box (a degenerate one has no area).
public struct Box: Equatable, Sendable, Codable, CustomStringConvertible {
    public var x1: Float, y1: Float, x2: Float, y2: Float

    public init(_ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float) { (self.x1, self.y1, self.x2, self.y2) = (x1, y1, x2, y2) }

    /// Boxes from a flat array of four values each.
    public static func array(_ values: [Float]) -> [Box] {
        stride(from: 0, to: values.count - values.count % 4, by: 4).map { Box(values[$0], values[$0 + 1], values[$0 + 2], values[$0 + 3]) }
    }

    public var width: Float { x2 - x1 }
    public var height: Float { y2 - y1 }
    /// torchvision's `box_area`: width x height, with no +1 (negative for an inverted box).
    public var area: Float { (x2 - x1) * (y2 - y1) }
    public var values: [Float] { [x1, y1, x2, y2] }

    /// The box clamped to an image of `height` x `width` pixels (`clip_boxes_to_image`).
    public func clipped(height: Int, width: Int) -> Box {
        let (w, h) = (Float(width), Float(height))
        return Box(min(max(x1, 0), w), min(max(y1, 0), h), min(max(x2, 0), w), min(max(y2, 0), h))
    }

    public var description: String { "(\(x1), \(y1), \(x2), \(y2))" }
}

/// Intersection over union of every box of `a` with every box of `b`, row-major
/// [a.count x b.count] (`torchvision.ops.box_iou`).
public func boxIoU(_ a: [Box], _ b: [Box]) -> [Float] {
    var result = [Float](repeating: 0, count: a.count * b.count)
    for (i, p) in a.enumerated() {
        for (j, q) in b.enumerated() { result[i * b.count + j] = iou(p, q) }
    }
    return result
}

/// Intersection over union of two boxes, in torchvision's order of operations.
@inline(__always)
public func iou(_ p: Box, _ q: Box) -> Float {
    let w = max(min(p.x2, q.x2) - max(p.x1, q.x1), 0), h = max(min(p.y2, q.y2) - max(p.y1, q.y1), 0)
    let intersection = w * h
    return intersection / (p.area + q.area - intersection)
}

/// The indices of the boxes at least `minSize` wide and high (`remove_small_boxes`).
public func boxesAtLeast(_ minSize: Float, in boxes: [Box]) -> [Int] {
    boxes.indices.filter { boxes[$0].width >= minSize && boxes[$0].height >= minSize }
}
