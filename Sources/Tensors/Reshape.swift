/// The same elements in row-major order under another shape; one dimension may be -1.
/// A blocked input is first reordered to the plain layout.
public func reshape(_ x: Tensor, _ shape: [Int]) throws -> Tensor {
    let op = "reshape"
    let known = shape.filter { $0 != -1 }.reduce(1, *)
    let inferred = shape.filter { $0 == -1 }.count
    var target = shape
    if inferred == 1, known > 0, x.count % known == 0 {
        target = shape.map { $0 == -1 ? x.count / known : $0 }
    }
    guard inferred <= 1, target.allSatisfy({ $0 > 0 }), target.reduce(1, *) == x.count else {
        throw OpError(op: op, "cannot reshape \(x.shape) (\(x.count) elements) to \(shape)")
    }
    let result = try x.contiguous().view(as: target)
    if Tensor.recording([x]) {
        let inputShape = x.shape
        try result.record(op, inputs: [x]) { g in [try g.contiguous().view(as: inputShape)] }
    }
    OpTrace.record(.reshape(shape: target), inputs: [x], output: result)
    return result
}

/// [N, C, H, W] -> [N, C*H*W] (dimensions from `startDim` on are merged), as `torch.flatten`.
public func flatten(_ x: Tensor, startDim: Int = 1) throws -> Tensor {
    guard startDim >= 0, startDim < x.rank else { throw OpError(op: "flatten", "start_dim \(startDim) out of range for shape \(x.shape)") }
    return try reshape(x, Array(x.shape[..<startDim]) + [x.shape[startDim...].reduce(1, *)])
}
