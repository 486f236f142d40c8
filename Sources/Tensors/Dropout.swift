import DNNL

/// Zeroes each element with probability `p` and scales the rest by 1 / (1 - p) in training;
/// the identity otherwise (PyTorch's inverted dropout).
public func dropout(_ x: Tensor, p: Float, training: Bool, using generator: inout SeededGenerator) throws -> Tensor {
    guard p >= 0, p < 1 else { throw OpError(op: "dropout", "p must be in [0, 1), got \(p)") }
    try x.requireFloat32("dropout")
    guard training, p > 0 else { return x }
    let keep = 1 / (1 - p)
    // The mask covers the stored elements (padding too, where it multiplies zeros).
    let mask = Tensor(empty: x.descriptor)
    let m = mask.floats
    for i in 0..<x.physicalCount { m[i] = Float.random(in: 0..<1, using: &generator) < p ? 0 : keep }
    let output = try map2(x, mask) { $0 * $1 }
    if Tensor.recording([x]) {
        output.record("dropout", inputs: [x]) { g in
            [try map2(try g.reordered(to: mask.descriptor, op: "dropout"), mask) { $0 * $1 }]
        }
    }
    return output
}
