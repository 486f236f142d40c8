import Foundation

/// Boxes as offsets from reference boxes and back (`torchvision.models.detection._utils.BoxCoder`):
/// dx = wx (gx - px) / pw, dy likewise, dw = ww log(gw / pw), dh likewise, between centres and
/// sizes. The RPN codes with weights (1, 1, 1, 1), the box head with (10, 10, 5, 5); decoding
/// clamps dw and dh at log(1000 / 16) so that no box grows past 1000/16 times its reference.
public struct BoxCoder: Sendable {
    public var weights: (x: Float, y: Float, w: Float, h: Float)
    public var clip: Float

    public init(weights: (x: Float, y: Float, w: Float, h: Float), clip: Float = Float(log(1000.0 / 16))) {
        (self.weights, self.clip) = (weights, clip)
    }

    /// The codes (dx, dy, dw, dh) that take each of `proposals` to its `target` box.
    public func encode(_ targets: [Box], proposals: [Box]) -> [Float] {
        precondition(targets.count == proposals.count, "box coder: \(targets.count) targets for \(proposals.count) proposals")
        var codes = [Float](repeating: 0, count: 4 * targets.count)
        for (i, (g, p)) in zip(targets, proposals).enumerated() {
            let (pw, ph) = (p.x2 - p.x1, p.y2 - p.y1)
            let (px, py) = (p.x1 + 0.5 * pw, p.y1 + 0.5 * ph)
            let (gw, gh) = (g.x2 - g.x1, g.y2 - g.y1)
            let (gx, gy) = (g.x1 + 0.5 * gw, g.y1 + 0.5 * gh)
            codes[4 * i] = weights.x * (gx - px) / pw
            codes[4 * i + 1] = weights.y * (gy - py) / ph
            codes[4 * i + 2] = weights.w * Foundation.log(gw / pw)
            codes[4 * i + 3] = weights.h * Foundation.log(gh / ph)
        }
        return codes
    }

    /// The boxes that `codes` (four a box) make of `references`.
    public func decode(_ codes: [Float], references: [Box]) -> [Box] {
        precondition(codes.count == 4 * references.count, "box coder: \(codes.count) codes for \(references.count) boxes")
        return references.enumerated().map { i, r in
            let (w, h) = (r.x2 - r.x1, r.y2 - r.y1)
            let (cx, cy) = (r.x1 + 0.5 * w, r.y1 + 0.5 * h)
            let dx = codes[4 * i] / weights.x, dy = codes[4 * i + 1] / weights.y
            let dw = min(codes[4 * i + 2] / weights.w, clip), dh = min(codes[4 * i + 3] / weights.h, clip)
            let (x, y) = (dx * w + cx, dy * h + cy)
            let (halfW, halfH) = (0.5 * (Foundation.exp(dw) * w), 0.5 * (Foundation.exp(dh) * h))
            return Box(x - halfW, y - halfH, x + halfW, y + halfH)
        }
    }
}
