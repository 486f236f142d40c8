/// Batch normalization over the channel axis (axis 1) of [N, C] or [N, C, H, W], as PyTorch's
/// `F.batch_norm`, optionally followed by a ReLU fused into the same kernel.
///
/// Training mode normalises with the batch's statistics and updates `runningMean` and
/// `runningVar` in place: `running = (1 - momentum) * running + momentum * batch`, with the
/// unbiased batch variance, as PyTorch does. Inference mode normalises with the running statistics.
/// The input keeps its layout (nChw8c after a convolution); so does the output.
public func batchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                      training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, fusedReLU: Bool = false) throws -> Tensor {
    let op = "batch_norm"
    let channels = try batchNormChannels(op, input: input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar)
    for t in [weight, bias, runningMean, runningVar] { try t.requireFloat32(op) }
    if training && OpTrace.isOn {
        throw OpError(op: op, "a traced (exported) model must be in evaluation mode: training mode normalises with batch statistics")
    }
    let backend = try commonDevice(op, [input, weight, bias, runningMean, runningVar]).backend
    let input = try input.castForKernel(on: backend)  // bfloat16 stays where the backend has it; statistics are Float32
    let reduced = input.count / channels
    if training && reduced < 2 {
        throw OpError(op: op, "training mode needs more than one value per channel, got input \(input.shape)")
    }
    let recording = Tensor.recording([input, weight, bias])
    let (output, pullback) = try backend.batchNorm(input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                                   training: training, momentum: momentum, eps: eps, fusedReLU: fusedReLU,
                                                   recording: recording)
    if let pullback { try output.record(op, inputs: [input, weight, bias], backward: pullback) }
    OpTrace.record(.batchNorm(eps: eps, fusedReLU: fusedReLU), inputs: [input, weight, bias, runningMean, runningVar], output: output)
    return output
}

/// The channel count of a BatchNorm input ([N, C] or [N, C, H, W]), after checking that its
/// four per-channel tensors have shape [C]; shared by `batchNorm` and `syncBatchNorm`.
func batchNormChannels(_ op: String, input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor) throws -> Int {
    guard input.rank == 2 || input.rank == 4 else { throw OpError(op: op, "input must be [N, C] or [N, C, H, W], got \(input.shape)") }
    let channels = input.shape[1]
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        guard t.shape == [channels] else {
            throw OpError(op: op, "\(name) has shape \(t.shape) but input \(input.shape) has \(channels) channels")
        }
    }
    return channels
}
