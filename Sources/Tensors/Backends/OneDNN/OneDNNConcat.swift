import CDNNL

extension OneDNNBackend {
    /// oneDNN's concat; the output takes oneDNN's choice of layout (the first input's family).
    package func concat(_ inputs: [Tensor], axis: Int, recording: Bool) throws -> (Tensor, Pullback?) {
        let op = "concat"
        let shapes = inputs.map { "\($0.shape)" }.joined(separator: ", ")
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

        guard recording else { return (output, nil) }
        let sizes = inputs.map { $0.shape[axis] }
        let outputShape = output.shape
        return (output, { gradOutput in
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
        })
    }
}
