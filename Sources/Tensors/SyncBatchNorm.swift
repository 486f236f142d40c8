
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
    guard input.rank == 2 || input.rank == 4 else { throw OpError(op: op, "input must be [N, C] or [N, C, H, W], got \(input.shape)") }
    let channels = input.shape[1]
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        guard t.shape == [channels] else { throw OpError(op: op, "\(name) has shape \(t.shape) but input \(input.shape) has \(channels) channels") }
    }
    let recording = Tensor.recording([input, weight, bias])
    let backend = try commonDevice(op, [input, weight, bias, runningMean, runningVar]).backend
    let (output, pullback) = try backend.syncBatchNorm(input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                                       collective: collective, momentum: momentum, eps: eps, fusedReLU: fusedReLU,
                                                       recording: recording)
    if let pullback { try output.record(op, inputs: [input, weight, bias], backward: pullback) }
    return output
}
