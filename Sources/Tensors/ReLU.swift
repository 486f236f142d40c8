/// max(0, x), elementwise, in the input's own layout. The backward pass reads the output, so
/// the input can be freed after the forward pass.
public func relu(_ input: Tensor) throws -> Tensor {
    let op = "relu"
    let input = try input.castForKernel(on: input.backend)
    let recording = Tensor.recording([input])
    let (output, pullback) = try input.backend.relu(input, recording: recording)
    if let pullback { try output.record(op, inputs: [input], backward: pullback) }
    OpTrace.record(.relu, inputs: [input], output: output)
    return output
}

/// min(max(0, x), 6), as PyTorch's `F.relu6` (timm's and TensorFlow's MobileNets). The gradient
/// passes where 0 < x < 6, as PyTorch's hardtanh backward. A Float32 loop on the host.
public func relu6(_ input: Tensor) throws -> Tensor {
    let input = try input.cast(to: .float32)
    let (output, pullback) = try input.backend.relu6(input, recording: Tensor.recording([input]))
    if let pullback { try output.record("relu6", inputs: [input], backward: pullback) }
    OpTrace.record(.relu6, inputs: [input], output: output)
    return output
}
