/// Bilinear resize of [N, C, H, W] to [N, C, size.0, size.1], as PyTorch's
/// `F.interpolate(x, size, mode="bilinear", align_corners=False)`: output pixel centres map to
/// input coordinates (o + 0.5) * in / out - 0.5, clamped at 0, and mix the four nearest input
/// pixels. FCN's upsampling of the class scores to the image size (the paper's section 6).
public func upsampleBilinear2d(_ input: Tensor, size: (Int, Int)) throws -> Tensor {
    let op = "upsample_bilinear2d"
    guard input.rank == 4 else { throw OpError(op: op, "input must be [N, C, H, W], got \(input.shape)") }
    guard size.0 > 0, size.1 > 0 else { throw OpError(op: op, "output size must be positive, got \(size) for input \(input.shape)") }
    let input = try input.cast(to: .float32)  // a Float32 host loop
    let (output, pullback) = try input.backend.upsampleBilinear2d(input, size: [size.0, size.1], recording: Tensor.recording([input]))
    if let pullback { try output.record(op, inputs: [input], backward: pullback) }
    OpTrace.record(.upsampleBilinear2d(size: [size.0, size.1]), inputs: [input], output: output)
    return output
}

/// One axis of a bilinear resize: for each output index, the two input indices and the weight of
/// the second (PyTorch's `area_pixel_compute_source_index` with align_corners=False).
package struct BilinearTaps: Sendable {
    package let low: [Int], high: [Int], weight: [Float]

    package init(input: Int, output: Int) {
        let scale = Float(input) / Float(output)
        var (low, high, weight) = ([Int](), [Int](), [Float]())
        for o in 0..<output {
            let source = max((Float(o) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(source), input - 1)
            low.append(i0)
            high.append(min(i0 + 1, input - 1))
            weight.append(source - Float(i0))
        }
        (self.low, self.high, self.weight) = (low, high, weight)
    }
}

/// Nearest-neighbour resize of [N, C, H, W] to [N, C, size.0, size.1], as PyTorch's
/// `F.interpolate(x, size, mode="nearest")`: output index o reads input index
/// min(floor(o * in / out), in - 1). The FPN's top-down path (torchvision's
/// `FeaturePyramidNetwork`). The gradient sums back into the pixel each output read.
public func upsampleNearest2d(_ input: Tensor, size: (Int, Int)) throws -> Tensor {
    let op = "upsample_nearest2d"
    guard input.rank == 4 else { throw OpError(op: op, "input must be [N, C, H, W], got \(input.shape)") }
    guard size.0 > 0, size.1 > 0 else { throw OpError(op: op, "output size must be positive, got \(size) for input \(input.shape)") }
    let input = try input.cast(to: .float32)  // a Float32 host loop
    let (output, pullback) = try input.backend.upsampleNearest2d(input, size: [size.0, size.1], recording: Tensor.recording([input]))
    if let pullback { try output.record(op, inputs: [input], backward: pullback) }
    return output
}

/// PyTorch's nearest source index of each output index along one axis (`nearest_idx`, with the
/// scale in Float32 as its kernels compute it).
package func nearestSourceIndices(input: Int, output: Int) -> [Int] {
    let scale = Float(input) / Float(output)
    return (0..<output).map { o in
        if output == input { return o }
        if output == 2 * input { return o >> 1 }
        return min(Int((Float(o) * scale).rounded(.down)), input - 1)
    }
}
