/// max(0, x), elementwise, in the input's own layout. The backward pass reads the output, so
/// the input can be freed after the forward pass.
public func relu(_ input: Tensor) throws -> Tensor {
    let op = "relu"
    let input = try input.castForKernel(on: input.backend)
    let recording = Tensor.recording([input])
    let (output, pullback) = try input.backend.relu(input, recording: recording)
    if let pullback { try output.record(op, inputs: [input], backward: pullback) }
    return output
}
