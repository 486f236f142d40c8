import CDNNL
import DNNL

/// Joins tensors along `axis` (channels by default), as `torch.cat`. Inputs may come in different
/// layouts; the output takes oneDNN's choice (the first input's layout family).
public func concat(_ inputs: [Tensor], axis: Int = 1) throws -> Tensor {
    let op = "concat"
    guard let first = inputs.first else { throw OpError(op: op, "needs at least one tensor") }
    let shapes = inputs.map { "\($0.shape)" }.joined(separator: ", ")
    guard axis >= 0, axis < first.rank else { throw OpError(op: op, "axis \(axis) out of range for shapes \(shapes)") }
    for t in inputs {
        try t.requireFloat32(op)
        guard t.rank == first.rank, (0..<t.rank).allSatisfy({ $0 == axis || t.shape[$0] == first.shape[$0] }) else {
            throw OpError(op: op, "shapes must match except along axis \(axis): \(shapes)")
        }
    }
    let descriptors = inputs.map(\.descriptor)
    let primitive = try Context.shared.cache.primitive(for: PrimitiveKey(op: op, settings: [axis], descriptors: descriptors)) {
        var pd: dnnl_primitive_desc_t?
        let raws = descriptors.map(\.raw)
        try check(dnnl_concat_primitive_desc_create(&pd, nil, Int32(raws.count), Int32(axis), raws, nil, Context.shared.engine.handle),
                  op: op, shapes)
        return try Primitive(op: op, descriptor: PrimitiveDescriptor(owning: pd!))
    }
    let output = Tensor(empty: primitive.descriptor.memory(dnnl_query_dst_md)!)
    var args = [(DNNL_ARG_DST, try output.memory(op: op))]
    for (i, t) in inputs.enumerated() { args.append((DNNL_ARG_MULTIPLE_SRC + Int32(i), try t.memory(op: op))) }
    try primitive.execute(args)

    if Tensor.recording(inputs) {
        let sizes = inputs.map { $0.shape[axis] }
        let outputShape = output.shape
        output.record(op, inputs: inputs) { gradOutput in
            // Slice a plain copy of the gradient: a sub-memory view of a blocked layout would need
            // channel offsets that are multiples of the block.
            let g = try gradOutput.contiguous()
            var offset = 0
            return try sizes.map { size in
                var sliceDims = outputShape
                sliceDims[axis] = size
                var offsets = [Int64](repeating: 0, count: outputShape.count)
                offsets[axis] = Int64(offset)
                offset += size
                var sub = dnnl_memory_desc_t(), parent = g.descriptor.raw
                try check(dnnl_memory_desc_init_submemory(&sub, &parent, sliceDims.map(Int64.init), offsets), op: op, "slice \(sliceDims)")
                let slice = Tensor(empty: MemoryDescriptor(plain: sliceDims))
                let reorder = try Primitive.reorder(from: MemoryDescriptor(raw: sub), to: slice.descriptor)
                try reorder.execute([(DNNL_ARG_FROM, try g.memory(as: MemoryDescriptor(raw: sub), op: op)),
                                     (DNNL_ARG_TO, try slice.memory(op: op))])
                return slice
            }
        }
    }
    return output
}
