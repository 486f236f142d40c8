import CDNNL
import DNNL

/// max(0, x), elementwise, in the input's own layout. The backward pass reads the output, so
/// the input can be freed after the forward pass.
public func relu(_ input: Tensor) throws -> Tensor {
    let op = "relu"
    try input.requireFloat32(op)
    let data = input.descriptor
    let recording = Tensor.recording([input])
    let forward = try reluForward(data, training: recording, op: op)
    let output = Tensor(empty: data)
    try forward.execute([(DNNL_ARG_SRC, try input.memory(op: op)), (DNNL_ARG_DST, try output.memory(op: op))])
    if recording {
        let savedOutput = output.detached()
        output.record(op, inputs: [input]) { gradOutput in [try reluBackward(gradOutput, output: savedOutput, op: op)] }
    }
    return output
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
