import CDNNL

extension DataType {
    var dnnl: dnnl_data_type_t {
        switch self {
        case .float32: dnnl_f32
        case .float16: dnnl_f16
        case .bfloat16: dnnl_bf16
        }
    }
}

/// A oneDNN memory descriptor: dims, element type and layout (plain strides or a blocked
/// layout such as nChw8c). Hashable so that it can key the primitive cache.
package struct MemoryDescriptor: Hashable, @unchecked Sendable, CustomStringConvertible {
    package var raw: dnnl_memory_desc_t

    package init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// Row-major (PyTorch's contiguous) layout of `dims`.
    package init(plain dims: [Int], dataType: DataType = .float32) {
        var strides = [Int64](repeating: 1, count: dims.count)
        for i in stride(from: dims.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * Int64(dims[i + 1]) }
        self.init(dims: dims, dataType: dataType, strides: strides)
    }

    package init(dims: [Int], dataType: DataType = .float32, strides: [Int64]) {
        var md = dnnl_memory_desc_t()
        let d = dims.map(Int64.init)
        let status = dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), d, dataType.dnnl, dims.isEmpty ? nil : strides)
        precondition(status == dnnl_success, "memory descriptor for dims \(dims)")
        raw = md
    }

    /// A layout named by a oneDNN format tag, e.g. `dnnl_nChw8c`.
    package init(dims: [Int], dataType: DataType = .float32, tag: dnnl_format_tag_t) throws {
        var md = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims.map(Int64.init), dataType.dnnl, tag),
                  op: "memory_desc", "dims \(dims), tag \(tag.rawValue)")
        raw = md
    }

    /// oneDNN's AVX2 activation layout: channels in blocks of 8, the fastest-varying index.
    package static func nChw8c(_ dims: [Int], dataType: DataType = .float32) throws -> MemoryDescriptor {
        try MemoryDescriptor(dims: dims, dataType: dataType, tag: dnnl_nChw8c)
    }

    /// "Let the primitive choose" (`dnnl_format_tag_any`).
    package static func any(_ dims: [Int], dataType: DataType = .float32) -> MemoryDescriptor {
        var md = dnnl_memory_desc_t()
        let status = dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims.map(Int64.init), dataType.dnnl, dnnl_format_tag_any)
        precondition(status == dnnl_success, "any descriptor for dims \(dims)")
        return MemoryDescriptor(raw: md)
    }

    package var dims: [Int] {
        withUnsafeBytes(of: raw.dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(raw.ndims))).map(Int.init) }
    }

    package var paddedDims: [Int] {
        withUnsafeBytes(of: raw.padded_dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(raw.ndims))).map(Int.init) }
    }

    package var strides: [Int] {
        withUnsafeBytes(of: raw.format_desc.blocking.strides) { Array($0.bindMemory(to: Int64.self).prefix(Int(raw.ndims))).map(Int.init) }
    }

    package var innerBlocks: [Int] {
        let n = Int(raw.format_desc.blocking.inner_nblks)
        return withUnsafeBytes(of: raw.format_desc.blocking.inner_blks) { Array($0.bindMemory(to: Int64.self).prefix(n)).map(Int.init) }
    }

    package var innerIndices: [Int] {
        let n = Int(raw.format_desc.blocking.inner_nblks)
        return withUnsafeBytes(of: raw.format_desc.blocking.inner_idxs) { Array($0.bindMemory(to: Int64.self).prefix(n)).map(Int.init) }
    }

    package var dataType: DataType {
        switch raw.data_type {
        case dnnl_f16: .float16
        case dnnl_bf16: .bfloat16
        default: .float32
        }
    }

    package var isBlocked: Bool { raw.format_kind == dnnl_blocked }

    /// Row-major with no blocking and no padding: what Swift code reads directly.
    package var isPlain: Bool { self == MemoryDescriptor(plain: dims, dataType: dataType) }

    /// Has padding (e.g. 3 channels stored in a block of 8) that must hold zeros.
    package var isPadded: Bool { paddedDims != dims }

    package var byteCount: Int { withUnsafePointer(to: raw) { dnnl_memory_desc_get_size($0) } }

    /// The same layout with another element type (strides count elements, so they carry over).
    package func with(dataType: DataType) -> MemoryDescriptor {
        var md = raw
        md.data_type = dataType.dnnl
        return MemoryDescriptor(raw: md)
    }

    package static func == (a: MemoryDescriptor, b: MemoryDescriptor) -> Bool {
        withUnsafePointer(to: a.raw) { pa in withUnsafePointer(to: b.raw) { pb in dnnl_memory_desc_equal(pa, pb) != 0 } }
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(dims)
        hasher.combine(raw.data_type.rawValue)
        hasher.combine(raw.format_kind.rawValue)
        if isBlocked {
            hasher.combine(strides)
            hasher.combine(innerBlocks)
            hasher.combine(innerIndices)
        }
    }

    /// e.g. `[64, 16, 32, 32] f32 nChw8c-like (blocks [8] on dims [1])`.
    package var description: String {
        guard isBlocked else { return "\(dims) \(dataType) any" }
        if isPlain { return "\(dims) \(dataType) plain" }
        return "\(dims) \(dataType) blocked(strides \(strides), blocks \(innerBlocks) on dims \(innerIndices))"
    }
}

/// Turns a oneDNN status into a thrown error. `context` is built only on failure.
@inline(__always)
package func check(_ status: dnnl_status_t, op: String, _ context: @autoclosure () -> String) throws {
    guard status != dnnl_success else { return }
    let name = dnnl_status2str(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
    throw OpError(op: op, "oneDNN returned \(name) (\(context()))")
}
