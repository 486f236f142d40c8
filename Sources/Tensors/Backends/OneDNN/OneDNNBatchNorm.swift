import CDNNL

extension OneDNNBackend {
    /// oneDNN's batch normalization (scale and shift, optionally its fused ReLU), in the
    /// input's own layout (nChw8c after a convolution).
    package func batchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                           training: Bool, momentum: Float, eps: Float, fusedReLU: Bool, recording: Bool) throws -> (Tensor, Pullback?) {
        let op = "batch_norm"
        let channels = input.shape[1], reduced = input.count / channels
        // oneDNN 2.6.3 has no JIT kernel for bf16 batch norm on an unblocked (NHWC or NCHW)
        // input whose channels are not a multiple of 16, such as the 8-channel stem convs of
        // the CIFAR ResNet-C/-D: its generic `nspc_bnorm:any` took about 750 ms of a 900 ms
        // cifar_resnet20d step at batch 512. Such inputs go to nChw16c first (padded), where
        // `bnorm_jit:avx512_core_bf16` runs; the next convolution takes any layout.
        let input = try input.dataType == .bfloat16 && input.rank == 4 && channels % 16 != 0 && input.descriptor.innerBlocks.isEmpty
            ? input.reordered(to: MemoryDescriptor(dims: input.shape, dataType: .bfloat16, tag: dnnl_nChw16c), op: op)
            : input
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
        guard recording else { return (output, nil) }
        let saved = (input.detached(), scale.detached(), shift.detached(), mean.detached(), variance.detached())
        let needParams = weight.requiresGrad || bias.requiresGrad
        return (output, { gradOutput in
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
        })
    }
}
