
/// Which group BatchNorm layers synchronise their batch statistics over while training
/// (PyTorch's `nn.SyncBatchNorm`); nil, the default, keeps each process's statistics local.
public enum BatchNormSync {
    @TaskLocal public static var collective: (any Collective)?
}

/// Training-mode batch normalisation whose statistics are those of the batches of all
/// processes in `collective` together, as if one process had seen the global batch.
///
/// Forward: the per-channel sums of x and x^2 and the count are summed across processes,
/// giving the global mean and (biased) variance. Backward: with y = gamma * xhat + beta and the
/// loss being the sum of every process's loss, dL/dx_i = gamma / sigma * (dy_i - sum(dy) / M -
/// xhat_i * sum(dy * xhat) / M) with both sums over all M values of all processes: they are
/// summed across processes too. dgamma and dbeta stay local sums; the gradient averaging of
/// data-parallel training combines them. Runs on plain NCHW in Swift (channels in parallel):
/// slower than the oneDNN kernel, used only when asked for.
public func syncBatchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                          collective: any Collective, momentum: Float = 0.1, eps: Float = 1e-5, fusedReLU: Bool = false) throws -> Tensor {
    let op = "sync_batch_norm"
    _ = try batchNormChannels(op, input: input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar)
    for t in [weight, bias, runningMean, runningVar] { try t.requireFloat32(op) }
    let input = try input.cast(to: .float32)  // the kernel is a Float32 host loop
    let recording = Tensor.recording([input, weight, bias])
    let backend = try commonDevice(op, [input, weight, bias, runningMean, runningVar]).backend
    let (output, pullback) = try backend.syncBatchNorm(input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                                       collective: collective, momentum: momentum, eps: eps, fusedReLU: fusedReLU,
                                                       recording: recording)
    if let pullback { try output.record(op, inputs: [input, weight, bias], backward: pullback) }
    return output
}
