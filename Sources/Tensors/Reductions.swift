/// The sum of all elements, as a [1] tensor.
public func sum(_ x: Tensor) throws -> Tensor {
    let x = try x.cast(to: .float32)
    let result = try Tensor(shape: [1], scalars: [x.backend.sum(x)], device: x.device)
    if Tensor.recording([x]) {
        let (shape, device) = (x.shape, x.device)
        try result.record("sum", inputs: [x]) { g in [try Tensor.full(shape, g.item(), device: device)] }
    }
    return result
}

/// The mean of all elements, as a [1] tensor.
public func mean(_ x: Tensor) throws -> Tensor {
    try scale(sum(x), by: 1 / Float(x.count))
}

/// Index of the largest value in each row of an [N, K] tensor.
public func argmax(_ x: Tensor) throws -> [Int] {
    try topK(x, k: 1).map { $0[0] }
}

/// Indices of the k largest values in each row of an [N, K] tensor, largest first
/// (ties broken by the lower index).
public func topK(_ x: Tensor, k: Int) throws -> [[Int]] {
    guard x.rank == 2 else { throw OpError(op: "top_k", "expects [N, K], got \(x.shape)") }
    guard k >= 1, k <= x.shape[1] else { throw OpError(op: "top_k", "k = \(k) outside 1...\(x.shape[1]) for shape \(x.shape)") }
    let values = try x.scalars
    let width = x.shape[1]
    return (0..<x.shape[0]).map { row in
        let slice = values[row * width ..< (row + 1) * width]
        return Array(slice.indices.sorted { slice[$0] > slice[$1] || (slice[$0] == slice[$1] && $0 < $1) }.prefix(k).map { $0 - row * width })
    }
}
