import CDNNL

extension OneDNNBackend {
    /// oneDNN's pooling (v2, with dilation), in the input's layout; max pooling keeps its
    /// argmax in a workspace for the backward pass.
    package func pool2d(_ input: Tensor, geometry: PoolGeometry, recording: Bool) throws -> (Tensor, Pullback?) {
        let (kind, shapes, outputDims) = (geometry.kind, geometry.shapes, geometry.output)
        let op = kind.name
        let strides = geometry.stride.map(Int64.init), kernels = geometry.kernel.map(Int64.init)
        let dilations = geometry.dilation.map { Int64($0 - 1) }  // oneDNN counts dilation from 0
        let left = geometry.padding.map(Int64.init), right = geometry.padRight.map(Int64.init)
        let prop = recording ? dnnl_forward_training : dnnl_forward_inference
        let data = input.descriptor
        let settings = [kind.rawValue, Int(prop.rawValue)] + geometry.kernel + geometry.stride + geometry.padding + geometry.padRight + geometry.dilation
        let forward = try Context.shared.cache.primitive(for: PrimitiveKey(op: op + ".forward", settings: settings, descriptors: [data])) {
            var desc = dnnl_pooling_v2_desc_t()
            var src = data.raw, dst = MemoryDescriptor.any(outputDims, dataType: data.dataType).raw
            try check(dnnl_pooling_v2_forward_desc_init(&desc, prop, kind.algorithm, &src, &dst, strides, kernels, dilations, left, right),
                      op: op, shapes)
            return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: shapes, desc: &desc))
        }
        let pd = forward.descriptor
        let output = Tensor(empty: pd.memory(dnnl_query_dst_md)!)
        let workspace = pd.memory(dnnl_query_workspace_md).map { Tensor(empty: $0) }
        var args = [(DNNL_ARG_SRC, try input.memory(op: op)), (DNNL_ARG_DST, try output.memory(op: op))]
        if let workspace { args.append((DNNL_ARG_WORKSPACE, try workspace.memory(op: op))) }
        try forward.execute(args)

        guard recording else { return (output, nil) }
        let outputDescriptor = output.descriptor
        return (output, { gradOutput in
            let backward = try Context.shared.cache.primitive(for: PrimitiveKey(op: op + ".backward", settings: settings,
                                                                                 descriptors: [data, outputDescriptor])) {
                var desc = dnnl_pooling_v2_desc_t()
                var dsrc = data.raw, ddst = outputDescriptor.raw
                try check(dnnl_pooling_v2_backward_desc_init(&desc, kind.algorithm, &dsrc, &ddst, strides, kernels, dilations, left, right),
                          op: op, "backward, " + shapes)
                return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: "backward, " + shapes, desc: &desc, hint: pd))
            }
            let dy = try gradOutput.reordered(to: outputDescriptor, op: op)
            let dx = Tensor(empty: data)
            var args = [(DNNL_ARG_DIFF_DST, try dy.memory(op: op)), (DNNL_ARG_DIFF_SRC, try dx.memory(op: op))]
            if let workspace { args.append((DNNL_ARG_WORKSPACE, try workspace.memory(op: op))) }
            try backward.execute(args)
            return [dx]
        })
    }
}

extension PoolKind {
    var algorithm: dnnl_alg_kind_t {
        switch self {
        case .max: dnnl_pooling_max
        case .averageIncludingPadding: dnnl_pooling_avg_include_padding
        case .averageExcludingPadding: dnnl_pooling_avg_exclude_padding
        }
    }
}
