/// Zeroes each element with probability `p` and scales the rest by 1 / (1 - p) in training;
/// the identity otherwise (PyTorch's inverted dropout).
public func dropout(_ x: Tensor, p: Float, training: Bool, using generator: inout SeededGenerator) throws -> Tensor {
    guard p >= 0, p < 1 else { throw OpError(op: "dropout", "p must be in [0, 1), got \(p)") }
    guard training, p > 0 else { return x }
    let x = try x.cast(to: .float32)  // a Float32 host loop
    let (output, pullback) = try x.backend.dropout(x, p: p, generator: &generator, recording: Tensor.recording([x]))
    if let pullback { try output.record("dropout", inputs: [x], backward: pullback) }
    return output
}
