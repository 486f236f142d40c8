/// Fully connected layer, as PyTorch's `F.linear`: input [N, K], weight [O, K], bias [O],
/// output = input . weight^T + bias.
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
    let op = "linear"
    let shapes = "input \(input.shape), weight \(weight.shape)" + (bias.map { ", bias \($0.shape)" } ?? "")
    guard input.rank == 2, weight.rank == 2 else { throw OpError(op: op, "input and weight must be 2-D (\(shapes)); flatten first") }
    guard input.shape[1] == weight.shape[1] else {
        throw OpError(op: op, "input has \(input.shape[1]) features but weight expects \(weight.shape[1]) (\(shapes))")
    }
    if let bias, bias.shape != [weight.shape[0]] { throw OpError(op: op, "bias must be [\(weight.shape[0])] (\(shapes))") }
    for t in [weight] + (bias.map { [$0] } ?? []) { try t.requireFloat32(op) }
    let backend = try commonDevice(op, [input, weight, bias]).backend
    let input = try input.cast(to: .float32)  // the classifier and the loss stay Float32, as under PyTorch's autocast
    let (output, pullback) = try backend.linear(input, weight: weight, bias: bias, recording: Tensor.recording([input, weight, bias]))
    if let pullback { try output.record(op, inputs: [input, weight] + (bias.map { [$0] } ?? []), backward: pullback) }
    OpTrace.record(.linear, inputs: [input, weight, bias], output: output)
    return output
}
