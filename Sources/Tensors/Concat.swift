/// Joins tensors along `axis` (channels by default), as `torch.cat`. Inputs may come in different
/// layouts; the output's is the backend's choice.
public func concat(_ inputs: [Tensor], axis: Int = 1) throws -> Tensor {
    let op = "concat"
    guard let first = inputs.first else { throw OpError(op: op, "needs at least one tensor") }
    let shapes = inputs.map { "\($0.shape)" }.joined(separator: ", ")
    guard axis >= 0, axis < first.rank else { throw OpError(op: op, "axis \(axis) out of range for shapes \(shapes)") }
    for t in inputs {
        guard t.rank == first.rank, (0..<t.rank).allSatisfy({ $0 == axis || t.shape[$0] == first.shape[$0] }) else {
            throw OpError(op: op, "shapes must match except along axis \(axis): \(shapes)")
        }
    }
    let backend = try commonDevice(op, inputs).backend
    let inputs = try commonComputeType(inputs, on: backend)
    let (output, pullback) = try backend.concat(inputs, axis: axis, recording: Tensor.recording(inputs))
    if let pullback { try output.record(op, inputs: inputs, backward: pullback) }
    OpTrace.record(.concat(axis: axis), inputs: inputs, output: output)
    return output
}
