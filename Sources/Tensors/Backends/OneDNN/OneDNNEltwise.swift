import CDNNL

/// ReLU and the residual add on oneDNN's eltwise and binary primitives, on all cores, in the
/// first input's layout.
extension OneDNNBackend {
    package func relu(_ input: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let op = "relu"
        let data = input.descriptor
        let forward = try reluForward(data, training: recording, op: op)
        let output = Tensor(empty: data)
        try forward.execute([(DNNL_ARG_SRC, try input.memory(op: op)), (DNNL_ARG_DST, try output.memory(op: op))])
        guard recording else { return (output, nil) }
        let savedOutput = output.detached()
        return (output, { gradOutput in [try reluBackward(gradOutput, output: savedOutput, op: op)] })
    }

    /// oneDNN's binary add, then its ReLU in place on the sum, so the block's output takes one
    /// buffer, not two. (A ReLU post-op on the binary add would save a pass, but oneDNN 2.6.3
    /// computes it wrongly, and writes out of bounds, on nChw8c tensors on AVX-512:
    /// docs/performance.md.)
    package func addReLU(_ a: Tensor, _ b: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let result = try binaryAdd(a, b, op: "add_relu")
        try reluInPlace(result, op: "add_relu")
        guard recording else { return (result, nil) }
        let saved = result.detached()
        return (result, { g in
            let masked = try reluBackward(g, output: saved, op: "add_relu")
            return [masked, masked]
        })
    }

    /// a + b by oneDNN's binary primitive, in `a`'s layout (b is reordered to it if needed).
    func binaryAdd(_ a: Tensor, _ b: Tensor, op: String) throws -> Tensor {
        let data = a.descriptor
        let bb = try b.reordered(to: data, op: op)
        let primitive = try Context.shared.cache.primitive(for: PrimitiveKey(op: "binary_add", descriptors: [data])) {
            var desc = dnnl_binary_desc_t()
            var src0 = data.raw, src1 = data.raw, dst = data.raw
            try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &src0, &src1, &dst), op: op, "input \(data)")
            return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: "input \(data)", desc: &desc))
        }
        let result = Tensor(empty: data)
        try primitive.execute([(DNNL_ARG_SRC_0, try a.memory(op: op)), (DNNL_ARG_SRC_1, try bb.memory(op: op)), (DNNL_ARG_DST, try result.memory(op: op))])
        return result
    }
}
/// max(x, 0) in place (oneDNN's eltwise with the same buffer as source and destination), for
/// a tensor this op has just made and nobody else holds.
func reluInPlace(_ x: Tensor, op: String) throws {
    let forward = try reluForward(x.descriptor, training: true, op: op)
    let memory = try x.memory(op: op)
    try forward.execute([(DNNL_ARG_SRC, memory), (DNNL_ARG_DST, memory)])
}

/// ReLU's backward pass from its output y: dy where y > 0, else 0, in y's layout.
func reluBackward(_ gradOutput: Tensor, output: Tensor, op: String) throws -> Tensor {
    let data = output.descriptor
    let backward = try Context.shared.cache.primitive(for: PrimitiveKey(op: "relu.backward", descriptors: [data])) {
        // oneDNN wants the forward descriptor as a hint.
        let hint = try reluForward(data, training: true, op: op).descriptor
        var desc = dnnl_eltwise_desc_t()
        var md = data.raw, diff = data.raw
        try check(dnnl_eltwise_backward_desc_init(&desc, dnnl_eltwise_relu_use_dst_for_bwd, &diff, &md, 0, 0), op: op, "backward, input \(data)")
        return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: "backward, input \(data)", desc: &desc, hint: hint))
    }
    let dy = try gradOutput.reordered(to: data, op: op)
    let dx = Tensor(empty: data)
    try backward.execute([(DNNL_ARG_DST, try output.memory(op: op)), (DNNL_ARG_DIFF_DST, try dy.memory(op: op)),
                          (DNNL_ARG_DIFF_SRC, try dx.memory(op: op))])
    return dx
}

/// The cached ReLU forward primitive for `data`'s layout (training keeps what backward needs).
private func reluForward(_ data: MemoryDescriptor, training: Bool, op: String) throws -> Primitive {
    let prop = training ? dnnl_forward_training : dnnl_forward_inference
    return try Context.shared.cache.primitive(for: PrimitiveKey(op: "relu.forward", settings: [Int(prop.rawValue)], descriptors: [data])) {
        var desc = dnnl_eltwise_desc_t()
        var md = data.raw
        try check(dnnl_eltwise_forward_desc_init(&desc, prop, dnnl_eltwise_relu_use_dst_for_bwd, &md, 0, 0), op: op, "input \(data)")
        return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: "input \(data)", desc: &desc))
    }
}
