import CDNNL

/// A primitive descriptor: the implementation oneDNN chose for an op, and the layouts it wants.
package final class PrimitiveDescriptor: @unchecked Sendable {
    package let handle: dnnl_primitive_desc_t

    /// From a filled op descriptor (`dnnl_*_desc_init`). `hint` is the forward descriptor that
    /// backward primitives need.
    package init(op: String, shapes: @autoclosure () -> String, desc: UnsafeRawPointer,
                hint: PrimitiveDescriptor? = nil, attributes: dnnl_primitive_attr_t? = nil) throws {
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, desc, attributes, Context.shared.engine.handle, hint?.handle),
                  op: op, shapes())
        handle = pd!
    }

    package init(owning handle: dnnl_primitive_desc_t) { self.handle = handle }

    /// The layout the implementation uses for one of its arguments, e.g. `dnnl_query_src_md`.
    package func memory(_ query: dnnl_query_t, index: Int32 = 0) -> MemoryDescriptor? {
        guard let md = dnnl_primitive_desc_query_md(handle, query, index) else { return nil }
        let desc = MemoryDescriptor(raw: md.pointee)
        return desc.raw.ndims == 0 ? nil : desc
    }

    /// Name of the chosen kernel, e.g. `jit:avx2`.
    package var implementation: String {
        var name: UnsafePointer<CChar>?
        withUnsafeMutablePointer(to: &name) { ptr in
            _ = dnnl_primitive_desc_query(handle, dnnl_query_impl_info_str, 0, ptr)
        }
        return name.map { String(cString: $0) } ?? "?"
    }

    deinit { dnnl_primitive_desc_destroy(handle) }
}

/// An executable primitive. Created once per (op, shapes, layouts) and kept in `PrimitiveCache`;
/// oneDNN allows one primitive to be executed from several threads.
package final class Primitive: @unchecked Sendable {
    package let handle: dnnl_primitive_t
    package let descriptor: PrimitiveDescriptor
    package let op: String

    package init(op: String, descriptor: PrimitiveDescriptor) throws {
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, descriptor.handle), op: op, "primitive creation")
        handle = primitive!
        self.descriptor = descriptor
        self.op = op
    }

    /// Runs the primitive with `(DNNL_ARG_*, memory)` pairs and waits for it.
    package func execute(_ arguments: [(Int32, Memory)]) throws {
        let args = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.handle) }
        let stream = Context.shared.stream
        try check(dnnl_primitive_execute(handle, stream.handle, Int32(args.count), args), op: op,
                  "execute with " + arguments.map { "arg \($0.0): \($0.1.descriptor)" }.joined(separator: ", "))
        try stream.wait()
        withExtendedLifetime(arguments) {}
    }

    deinit { dnnl_primitive_destroy(handle) }
}

extension Primitive {
    /// A reorder between two layouts (or element types) of the same dims.
    package static func reorder(from source: MemoryDescriptor, to destination: MemoryDescriptor) throws -> Primitive {
        let key = PrimitiveKey(op: "reorder", descriptors: [source, destination])
        return try Context.shared.cache.primitive(for: key) {
            var pd: dnnl_primitive_desc_t?
            var src = source.raw, dst = destination.raw
            let engine = Context.shared.engine.handle
            try check(dnnl_reorder_primitive_desc_create(&pd, &src, engine, &dst, engine, nil), op: "reorder",
                      "\(source) -> \(destination)")
            return try Primitive(op: "reorder", descriptor: PrimitiveDescriptor(owning: pd!))
        }
    }
}
