import CDNNL

/// The CPU backend: oneDNN's kernels (the library PyTorch uses on CPUs) on host memory, in the
/// layouts those kernels choose (`MemoryDescriptor`: plain, or blocked nChw8c on AVX2 and
/// nChw16c on AVX-512). Every file that sees oneDNN's C API is in this folder.
package final class OneDNNBackend: HostBackend {
    package static let shared = OneDNNBackend()
    package var device: Device { .cpu }
    package var kernels: KernelLibrary { KernelLibrary(name: "oneDNN", version: Self.version, instructionSet: Self.instructionSet) }

    package func plainLayout(_ dims: [Int], dataType: DataType) -> any Layout {
        OneDNNLayout(MemoryDescriptor(plain: dims, dataType: dataType))
    }

    /// bfloat16 where oneDNN may use AVX-512 BF16 (or AMX) instructions; `DNNL_MAX_CPU_ISA`
    /// caps that as it caps every kernel (`DNNL_MAX_CPU_ISA=AVX512_CORE` shows what a machine
    /// without BF16 does). oneDNN 2.6 has no float16 training kernels on CPUs.
    package func computesNatively(_ type: DataType) -> Bool {
        switch type {
        case .float32: true
        case .bfloat16: Self.hasBFloat16
        case .float16: false
        }
    }

    private static let hasBFloat16 = dnnl_get_effective_cpu_isa().rawValue & dnnl_cpu_isa_avx512_core_bf16.rawValue
        == dnnl_cpu_isa_avx512_core_bf16.rawValue

    /// oneDNN's version, as "2.6.3".
    package static var version: String {
        let v = dnnl_version().pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN's kernels use here, as oneDNN names it (e.g. `avx512_core_amx`).
    package static var instructionSet: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
        case dnnl_cpu_isa_avx2: "avx2"
        case let other: "isa 0x\(String(other.rawValue, radix: 16))"
        }
    }

    /// Conversions between Float32 and bfloat16 by oneDNN's reorder (vectorised, on all cores,
    /// rounding to nearest even); float16 by the host loop, which needs no F16C.
    package func converted(_ x: Tensor, to type: DataType) throws -> Tensor {
        if type == x.dataType { return x }
        guard x.dataType != .float16, type != .float16 else { return try hostConverted(x, to: type) }
        return try x.reordered(to: x.descriptor.with(dataType: type), op: "cast")
    }

    package func tensor(shape: [Int], values: UnsafeBufferPointer<Float>) throws -> Tensor {
        let result = Tensor(empty: MemoryDescriptor(plain: shape))
        result.floats.update(from: values.baseAddress!, count: values.count)
        return result
    }

    package func assign(_ destination: Tensor, from source: Tensor) throws {
        let converted = try self.converted(self.converted(source, to: .float32), to: destination.dataType)
        let primitive = try Primitive.reorder(from: converted.descriptor, to: destination.descriptor)
        try primitive.execute([(DNNL_ARG_FROM, converted.memory(op: "assign")), (DNNL_ARG_TO, destination.memory(op: "assign"))])
    }

    package func reordered(_ x: Tensor, like target: Tensor) throws -> Tensor {
        try x.reordered(to: target.descriptor)
    }

    package func copy(_ x: Tensor, like target: Tensor) throws -> Tensor {
        try x.copy(to: target.descriptor)
    }

    package func contiguous(_ x: Tensor) throws -> Tensor {
        try x.reordered(to: MemoryDescriptor(plain: x.shape, dataType: x.dataType))
    }

    package func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try binaryAdd(a, b, op: "add")
    }
}

/// A CPU tensor's layout: oneDNN's memory descriptor, boxed once when the tensor is made. A
/// class, so that reading it back (several times per op) is a pointer check rather than the
/// dynamic cast and copy of a ~1 KB struct out of an existential.
final class OneDNNLayout: Layout {
    let descriptor: MemoryDescriptor

    init(_ descriptor: MemoryDescriptor) { self.descriptor = descriptor }

    var dims: [Int] { descriptor.dims }
    var dataType: DataType { descriptor.dataType }
    var isPlain: Bool { descriptor.isPlain }
    var byteCount: Int { descriptor.byteCount }
    var isPadded: Bool { descriptor.isPadded }
    func with(dataType: DataType) -> any Layout { OneDNNLayout(descriptor.with(dataType: dataType)) }
    func isEqual(to other: any Layout) -> Bool { (other as? OneDNNLayout)?.descriptor == descriptor }
    var description: String { descriptor.description }
}

extension Tensor {
    /// Uninitialised (zero where the layout pads) CPU storage for `descriptor`.
    convenience init(empty descriptor: MemoryDescriptor) {
        self.init(empty: OneDNNLayout(descriptor), device: .cpu)
    }

    /// This CPU tensor's layout as oneDNN describes it.
    package var descriptor: MemoryDescriptor {
        if let box = layout as? OneDNNLayout { return box.descriptor }
        preconditionFailure("a \(device) tensor (\(layout)) reached oneDNN's backend")
    }

    /// This tensor in `target` layout (same dims), or itself when it is already there.
    package func reordered(to target: MemoryDescriptor, op: String = "reorder") throws -> Tensor {
        if target == descriptor { return self }
        guard target.dims == shape else {
            throw OpError(op: op, "cannot reorder shape \(shape) into \(target)")
        }
        let result = Tensor(empty: target)
        let primitive = try Primitive.reorder(from: descriptor, to: target)
        try primitive.execute([(DNNL_ARG_FROM, memory(op: op)), (DNNL_ARG_TO, result.memory(op: op))])
        return result
    }

    /// A new tensor in `target` layout that shares no storage with this one.
    package func copy(to target: MemoryDescriptor) throws -> Tensor {
        if target != descriptor { return try reordered(to: target) }
        let result = Tensor(empty: target)
        result.hostPointer.copyMemory(from: hostPointer, byteCount: descriptor.byteCount)
        return result
    }

    /// A oneDNN memory object over this tensor's storage.
    func memory(op: String) throws -> Memory {
        try Memory(descriptor, pointer: hostPointer, op: op)
    }

    /// A oneDNN memory object over this storage seen as `descriptor` (same bytes, other dims).
    func memory(as descriptor: MemoryDescriptor, op: String) throws -> Memory {
        precondition(descriptor.byteCount <= storage.byteCount)
        return try Memory(descriptor, pointer: hostPointer, op: op)
    }
}
