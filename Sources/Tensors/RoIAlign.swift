/// Where RoIAlign samples: the regions, the output grid and the sampling, as
/// `torchvision.ops.roi_align` takes them.
public struct RoIAlignGeometry: Sendable, Equatable {
    /// (x1, y1, x2, y2) per region, in the image's pixels (four values a region).
    public var boxes: [Float]
    /// The image of the batch each region is on.
    public var batchIndices: [Int]
    public var outputSize: (height: Int, width: Int)
    /// Feature pixels per image pixel (1/4 for an FPN level of stride 4).
    public var spatialScale: Float
    /// Samples per bin along each axis; 0: ceil(region size / output size), torchvision's adaptive rule.
    public var samplingRatio: Int
    /// false (torchvision's default, Faster R-CNN's): no half-pixel shift, regions at least 1x1
    /// feature pixels. true: Detectron2's half-pixel alignment.
    public var aligned: Bool

    public init(boxes: [Float], batchIndices: [Int], outputSize: (height: Int, width: Int), spatialScale: Float,
                samplingRatio: Int, aligned: Bool = false) {
        (self.boxes, self.batchIndices, self.outputSize) = (boxes, batchIndices, outputSize)
        (self.spatialScale, self.samplingRatio, self.aligned) = (spatialScale, samplingRatio, aligned)
    }

    public var count: Int { batchIndices.count }

    public static func == (a: Self, b: Self) -> Bool {
        a.boxes == b.boxes && a.batchIndices == b.batchIndices && a.outputSize == b.outputSize
            && a.spatialScale == b.spatialScale && a.samplingRatio == b.samplingRatio && a.aligned == b.aligned
    }
}

/// `torchvision.ops.roi_align`: for each region, an `outputSize` grid of bins over `input`
/// [N, C, H, W], each bin the mean of its bilinear samples; [regions, C, height, width]. The
/// gradient flows to `input` (the regions are constants, as Faster R-CNN's detached proposals).
public func roiAlign(_ input: Tensor, _ geometry: RoIAlignGeometry) throws -> Tensor {
    let op = "roi_align"
    guard input.rank == 4 else { throw OpError(op: op, "input must be [N, C, H, W], got \(input.shape)") }
    guard geometry.boxes.count == 4 * geometry.count else {
        throw OpError(op: op, "\(geometry.boxes.count) box values for \(geometry.count) regions: give 4 (x1, y1, x2, y2) each")
    }
    guard geometry.outputSize.height > 0, geometry.outputSize.width > 0, geometry.samplingRatio >= 0 else {
        throw OpError(op: op, "output size \(geometry.outputSize) must be positive and the sampling ratio at least 0, got \(geometry.samplingRatio)")
    }
    if let bad = geometry.batchIndices.firstIndex(where: { !(0..<input.shape[0]).contains($0) }) {
        throw OpError(op: op, "region \(bad) is on image \(geometry.batchIndices[bad]) of a batch of \(input.shape[0])")
    }
    if let bad = geometry.boxes.firstIndex(where: { !$0.isFinite }) {
        throw OpError(op: op, "region \(bad / 4) has a coordinate that is not finite: \(Array(geometry.boxes[(bad / 4 * 4)..<(bad / 4 * 4 + 4)]))")
    }
    let input = try input.cast(to: .float32)  // a Float32 host loop
    let (output, pullback) = try OpTimes.measure(op) {
        try input.backend.roiAlign(input, geometry: geometry, recording: Tensor.recording([input]))
    }
    if let pullback { try output.record(op, inputs: [input], backward: { g in try OpTimes.measure(op + " backward") { try pullback(g) } }) }
    return output
}
