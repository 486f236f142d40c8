import CDNNL
import DNNL

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
    let channels = input.rank >= 2 ? input.shape[1] : 0
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        guard t.shape == [channels] else {
            throw OpError(op: op, "\(name) has shape \(t.shape) but input \(input.shape) has \(channels) channels")
        }
        try t.requireFloat32(op)
    }
    guard input.rank == 2 || input.rank == 4 else { throw OpError(op: op, "input must be [N, C] or [N, C, H, W], got \(input.shape)") }
    try input.requireFloat32(op)
    let reduced = input.count / channels
    if training && reduced < 2 {
        throw OpError(op: op, "training mode needs more than one value per channel, got input \(input.shape)")
    }
    let recording = Tensor.recording([input, weight, bias])
    var flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
    if !training { flags |= dnnl_use_global_stats.rawValue }
    if fusedReLU { flags |= dnnl_fuse_norm_relu.rawValue }
    // Forward-training is also needed in inference mode when a backward will follow (it keeps the ReLU mask).
    let prop = training || recording ? dnnl_forward_training : dnnl_forward_inference
    let data = input.descriptor
    let key = PrimitiveKey(op: "batch_norm.forward", settings: [Int(flags), Int(prop.rawValue), Int(eps.bitPattern)], descriptors: [data])
    let forward = try Context.shared.cache.primitive(for: key) {
        var desc = dnnl_batch_normalization_desc_t()
        var md = data.raw
        try check(dnnl_batch_normalization_forward_desc_init(&desc, prop, &md, eps, flags), op: op, "input \(data)")
        return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: "input \(data)", desc: &desc))
    }
    let pd = forward.descriptor
    let scale = try weight.contiguous(), shift = try bias.contiguous()
    let output = Tensor(empty: data)
    let mean: Tensor, variance: Tensor
    if training {
        mean = Tensor(empty: MemoryDescriptor(plain: [channels]))
        variance = Tensor(empty: MemoryDescriptor(plain: [channels]))
    } else {
        mean = try runningMean.contiguous()
        variance = try runningVar.contiguous()
    }
    let workspace = pd.memory(dnnl_query_workspace_md).map { Tensor(empty: $0) }
    var args = [(DNNL_ARG_SRC, try input.memory(op: op)), (DNNL_ARG_DST, try output.memory(op: op)),
                (DNNL_ARG_SCALE, try scale.memory(op: op)), (DNNL_ARG_SHIFT, try shift.memory(op: op)),
                (DNNL_ARG_MEAN, try mean.memory(op: op)), (DNNL_ARG_VARIANCE, try variance.memory(op: op))]
    if let workspace { args.append((DNNL_ARG_WORKSPACE, try workspace.memory(op: op))) }
    try forward.execute(args)

    if training {
        try updateRunningStatistic(runningMean, batch: mean, momentum: momentum, correction: 1)
        try updateRunningStatistic(runningVar, batch: variance, momentum: momentum,
                                   correction: Float(reduced) / Float(reduced - 1))
    }
    if recording {
        let saved = (input.detached(), scale.detached(), shift.detached(), mean.detached(), variance.detached())
        let needParams = weight.requiresGrad || bias.requiresGrad
        output.record(op, inputs: [input, weight, bias]) { gradOutput in
            let backwardFlags = flags
            let bkey = PrimitiveKey(op: "batch_norm.backward", settings: [Int(backwardFlags), Int(eps.bitPattern)], descriptors: [data])
            let backward = try Context.shared.cache.primitive(for: bkey) {
                var desc = dnnl_batch_normalization_desc_t()
                var md = data.raw, diff = data.raw
                try check(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &md, eps, backwardFlags),
                          op: op, "backward, input \(data)")
                return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: "backward, input \(data)", desc: &desc, hint: pd))
            }
            let dy = try gradOutput.reordered(to: data, op: op)
            let dx = Tensor(empty: data)
            let dscale = Tensor(empty: MemoryDescriptor(plain: [channels]))
            let dshift = Tensor(empty: MemoryDescriptor(plain: [channels]))
            // oneDNN wants SHIFT passed although it does not read it.
            var args = [(DNNL_ARG_SRC, try saved.0.memory(op: op)), (DNNL_ARG_DIFF_DST, try dy.memory(op: op)),
                        (DNNL_ARG_SCALE, try saved.1.memory(op: op)), (DNNL_ARG_SHIFT, try saved.2.memory(op: op)),
                        (DNNL_ARG_MEAN, try saved.3.memory(op: op)), (DNNL_ARG_VARIANCE, try saved.4.memory(op: op)),
                        (DNNL_ARG_DIFF_SRC, try dx.memory(op: op)),
                        (DNNL_ARG_DIFF_SCALE, try dscale.memory(op: op)), (DNNL_ARG_DIFF_SHIFT, try dshift.memory(op: op))]
            if let workspace { args.append((DNNL_ARG_WORKSPACE, try workspace.memory(op: op))) }
            try backward.execute(args)
            return [dx, needParams ? dscale : nil, needParams ? dshift : nil]
        }
    }
    return output
}

/// running = (1 - momentum) * running + momentum * correction * batch, in place.
private func updateRunningStatistic(_ running: Tensor, batch: Tensor, momentum: Float, correction: Float) throws {
    guard running.descriptor.isPlain else {
        throw OpError(op: "batch_norm", "running statistics must be plain tensors, got \(running.descriptor)")
    }
    let r = running.floats, b = batch.floats
    for i in 0..<running.count { r[i] = (1 - momentum) * r[i] + momentum * correction * b[i] }
}
