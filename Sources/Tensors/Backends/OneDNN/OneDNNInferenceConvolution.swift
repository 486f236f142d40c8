import CDNNL

/// Inference convolutions as PyTorch's and onnxruntime's oneDNN paths run them: the
/// forward_inference kernel with the residual add (a sum post-op: the output buffer starts as
/// a copy of the residual) and ReLU/ReLU6 (an eltwise post-op) applied in the same pass, and
/// weights reordered into the kernel's layout once (`KernelWeights`), not per call.
extension OneDNNBackend {
    package func inferenceConv2d(_ input: Tensor, weights: KernelWeights, geometry: ConvGeometry, residual: Tensor?,
                                 activation: FusedActivation) throws -> Tensor {
        let op = "conv2d.inference"
        let sum = residual != nil
        let key = PrimitiveKey(op: op, settings: geometry.settings + [sum ? 1 : 0, activation.code])
        let primitive = try Context.shared.cache.primitive(for: key) {
            try geometry.inferencePrimitive(sum: sum, activation: activation)
        }
        let pd = primitive.descriptor
        let src = try input.reordered(to: pd.memory(dnnl_query_src_md)!, op: op)
        let weightLayout = pd.memory(dnnl_query_weights_md)!
        let kernelWeight = try weights.prepared(for: AnyHashable(weightLayout)) {
            try geometry.reorderWeight(weights.weight.contiguous(), to: weightLayout)
        }
        let destination = pd.memory(dnnl_query_dst_md)!
        // The sum post-op adds what the output buffer holds: a copy of the residual, never the
        // residual itself (its owner may read it again).
        let output = try residual.map { try $0.copy(to: destination) } ?? Tensor(empty: destination)
        try primitive.execute([(DNNL_ARG_SRC, try src.memory(op: op)), (DNNL_ARG_WEIGHTS, try kernelWeight.memory(op: op)),
                               (DNNL_ARG_BIAS, try weights.bias.contiguous().memory(op: op)), (DNNL_ARG_DST, try output.memory(op: op))])
        return output
    }
}

extension FusedActivation {
    /// For the primitive cache's key.
    var code: Int {
        switch self {
        case .none: 0
        case .relu: 1
        case .relu6: 2
        }
    }
}

extension ConvGeometry {
    /// forward_inference with layouts left to oneDNN and the post-ops: sum, then the activation.
    func inferencePrimitive(sum: Bool, activation: FusedActivation) throws -> Primitive {
        let op = "conv2d.inference"
        var desc = dnnl_convolution_desc_t()
        var src = MemoryDescriptor.any(input, dataType: dataType).raw, wei = MemoryDescriptor.any(kernelWeightDims, dataType: dataType).raw
        var dst = MemoryDescriptor.any(output, dataType: dataType).raw, bia = MemoryDescriptor(plain: [weight[0]]).raw
        try check(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei, &bia, &dst,
                                                             dnnlStride, dnnlDilation, dnnlPadding, dnnlPadding), op: op, shapes)
        var postOps: dnnl_post_ops_t?
        try check(dnnl_post_ops_create(&postOps), op: op, "post-ops")
        defer { dnnl_post_ops_destroy(postOps) }
        if sum { try check(dnnl_post_ops_append_sum(postOps, 1), op: op, "sum post-op") }
        switch activation {
        case .none: break
        case .relu: try check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), op: op, "relu post-op")
        case .relu6: try check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_clip, 0, 6), op: op, "relu6 post-op")
        }
        var attributes: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attributes), op: op, "attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        try check(dnnl_primitive_attr_set_post_ops(attributes, postOps), op: op, "post-ops")
        return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: shapes, desc: &desc, attributes: attributes))
    }
}
