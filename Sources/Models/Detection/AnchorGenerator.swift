/// Anchors as torchvision's `AnchorGenerator` makes them for an FPN: per feature level one size
/// (32, 64, 128, 256, 512 for `fasterrcnn_resnet50_fpn`) at each aspect ratio (0.5, 1, 2), centred
/// on every location of the level's map. The order is torchvision's: level by level, then
/// location by location (row-major), then ratio by ratio, so that the RPN head's outputs line up.
public struct AnchorGenerator: Sendable {
    public var sizes: [Float]
    public var aspectRatios: [Float]

    public init(sizes: [Float] = [32, 64, 128, 256, 512], aspectRatios: [Float] = [0.5, 1, 2]) {
        (self.sizes, self.aspectRatios) = (sizes, aspectRatios)
    }

    public var anchorsPerLocation: Int { aspectRatios.count }

    /// The anchors of one size centred on (0, 0), rounded half to even as torch.round does.
    public func baseAnchors(size: Float) -> [Box] {
        aspectRatios.map { ratio in
            let h = ratio.squareRoot(), w = 1 / h
            let (ws, hs) = (w * size, h * size)
            return Box((-ws / 2).rounded(.toNearestOrEven), (-hs / 2).rounded(.toNearestOrEven),
                       (ws / 2).rounded(.toNearestOrEven), (hs / 2).rounded(.toNearestOrEven))
        }
    }

    /// Every level's anchors for a batch padded to `imageSize` (height, width) with feature maps of
    /// `featureSizes`: the stride of a level is the padded size divided by its map's, rounded down,
    /// as torchvision computes it.
    public func anchors(imageSize: (height: Int, width: Int), featureSizes: [(height: Int, width: Int)]) -> [[Box]] {
        precondition(featureSizes.count == sizes.count, "anchors: \(featureSizes.count) feature maps for \(sizes.count) anchor sizes")
        return zip(sizes, featureSizes).map { size, map in
            let (strideY, strideX) = (imageSize.height / map.height, imageSize.width / map.width)
            let base = baseAnchors(size: size)
            var level: [Box] = []
            level.reserveCapacity(map.height * map.width * base.count)
            for y in 0..<map.height {
                for x in 0..<map.width {
                    let (sx, sy) = (Float(x * strideX), Float(y * strideY))
                    for b in base { level.append(Box(sx + b.x1, sy + b.y1, sx + b.x2, sy + b.y2)) }
                }
            }
            return level
        }
    }
}
