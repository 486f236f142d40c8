import CDNNL
import DNNL

/// An n-dimensional array of Float32 (or 16-bit storage) in a oneDNN memory layout, with an
/// optional gradient.
///
/// `shape` is the logical NCHW shape, as in PyTorch. `descriptor` says how the elements lie in
/// memory: plain row-major, or a blocked layout such as nChw8c that convolutions chose. Ops keep
/// whatever layout their producer chose and reorder only where a consumer needs another one;
/// `scalars` always reads in logical row-major order.
public final class Tensor {
    public let shape: [Int]
    public let descriptor: MemoryDescriptor
    var storage: Storage

    /// Whether `backward()` should fill `grad` (leaves) or pass gradients through (op results).
    public var requiresGrad: Bool
    /// The accumulated gradient, in this tensor's own layout. Set to nil to zero it.
    public var grad: Tensor?
    /// The op that produced this tensor, while a tape is recorded.
    var gradNode: GradNode?

    init(shape: [Int], descriptor: MemoryDescriptor, storage: Storage, requiresGrad: Bool = false) {
        self.shape = shape
        self.descriptor = descriptor
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Uninitialised (zero where the layout pads) storage for `descriptor`.
    convenience init(empty descriptor: MemoryDescriptor) {
        self.init(shape: descriptor.dims, descriptor: descriptor,
                  storage: Storage(byteCount: descriptor.byteCount, zeroed: descriptor.isPadded))
    }

    /// A plain Float32 tensor holding `scalars` in row-major order.
    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) throws {
        guard shape.allSatisfy({ $0 > 0 }) else { throw OpError(op: "tensor", "shape \(shape) has a non-positive dimension") }
        let count = shape.reduce(1, *)
        guard scalars.count == count else {
            throw OpError(op: "tensor", "\(scalars.count) values do not fill shape \(shape) (\(count) elements)")
        }
        let descriptor = MemoryDescriptor(plain: shape)
        self.init(shape: shape, descriptor: descriptor, storage: Storage(byteCount: descriptor.byteCount, zeroed: false),
                  requiresGrad: requiresGrad)
        scalars.withUnsafeBufferPointer { storage.floats.update(from: $0.baseAddress!, count: count) }
    }

    /// A plain Float32 tensor with every element equal to `value`.
    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) throws -> Tensor {
        try Tensor(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) throws -> Tensor {
        try full(shape, 0, requiresGrad: requiresGrad)
    }

    /// Normal(mean, std) samples from `generator`.
    @inlinable
    public static func randn<G: RandomNumberGenerator>(_ shape: [Int], mean: Float = 0, std: Float = 1,
                                                       using generator: inout G, requiresGrad: Bool = false) throws -> Tensor {
        let values = (0..<shape.reduce(1, *)).map { _ in mean + std * Float(generator.nextNormal()) }
        return try Tensor(shape: shape, scalars: values, requiresGrad: requiresGrad)
    }

    /// Uniform [low, high) samples from `generator`.
    @inlinable
    public static func uniform<G: RandomNumberGenerator>(_ shape: [Int], low: Float, high: Float,
                                                         using generator: inout G, requiresGrad: Bool = false) throws -> Tensor {
        let values = (0..<shape.reduce(1, *)).map { _ in Float.random(in: low..<high, using: &generator) }
        return try Tensor(shape: shape, scalars: values, requiresGrad: requiresGrad)
    }

    public var rank: Int { shape.count }
    /// Logical element count.
    public var count: Int { shape.reduce(1, *) }
    public var dataType: DataType { descriptor.dataType }
    /// Elements physically stored, padding included.
    var physicalCount: Int { descriptor.byteCount / descriptor.dataType.byteCount }
    var floats: UnsafeMutablePointer<Float> { storage.floats }

    /// The elements as Float32 in logical row-major order.
    public var scalars: [Float] {
        get throws {
            let plain = try converted(to: .float32).contiguous()
            return Array(UnsafeBufferPointer(start: plain.floats, count: count))
        }
    }

    /// Overwrites the elements in place from logical row-major `values` (the layout is kept).
    /// For optimisers and checkpoint loading; not recorded on the tape.
    public func assign(_ values: [Float]) throws {
        guard values.count == count else {
            throw OpError(op: "assign", "\(values.count) values for a tensor of shape \(shape) (\(count) elements)")
        }
        try assign(Tensor(shape: shape, scalars: values))
    }

    /// Overwrites the elements in place with those of `source` (same shape, any layout or type).
    public func assign(_ source: Tensor) throws {
        guard source.shape == shape else { throw OpError(op: "assign", "source shape \(source.shape) differs from \(shape)") }
        let converted = try source.converted(to: .float32).converted(to: dataType)
        let primitive = try Primitive.reorder(from: converted.descriptor, to: descriptor)
        try primitive.execute([(DNNL_ARG_FROM, converted.memory(op: "assign")), (DNNL_ARG_TO, memory(op: "assign"))])
    }

    /// Direct access to the elements of a plain Float32 tensor, in row-major order: for
    /// optimisers, which update parameters in place.
    public func withUnsafeMutableFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        guard descriptor.isPlain, dataType == .float32 else {
            throw OpError(op: "in-place access", "needs a plain float32 tensor, got \(descriptor)")
        }
        return try body(UnsafeMutableBufferPointer(start: floats, count: count))
    }

    /// The value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else { throw OpError(op: "item", "tensor of shape \(shape) has \(count) elements, not 1") }
        return try scalars[0]
    }

    /// The same storage without gradient history: what a backward closure saves, so that a
    /// result never holds its own graph node alive.
    public func detached() -> Tensor {
        Tensor(shape: shape, descriptor: descriptor, storage: storage)
    }

    /// This tensor in `target` layout (same dims), or itself when it is already there.
    public func reordered(to target: MemoryDescriptor, op: String = "reorder") throws -> Tensor {
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
    public func copy(to target: MemoryDescriptor) throws -> Tensor {
        if target != descriptor { return try reordered(to: target) }
        let result = Tensor(empty: target)
        result.storage.pointer.copyMemory(from: storage.pointer, byteCount: descriptor.byteCount)
        return result
    }

    /// Plain row-major Float32: the layout Swift code and checkpoints read.
    public func contiguous() throws -> Tensor {
        try reordered(to: MemoryDescriptor(plain: shape))
    }

    /// A plain tensor seen with other dims of the same element count, sharing storage.
    func view(as newShape: [Int]) -> Tensor {
        precondition(descriptor.isPlain && newShape.reduce(1, *) == count)
        return Tensor(shape: newShape, descriptor: MemoryDescriptor(plain: newShape, dataType: dataType), storage: storage)
    }

    /// A oneDNN memory object over this tensor's storage.
    func memory(op: String) throws -> Memory {
        try Memory(descriptor, pointer: storage.pointer, op: op)
    }

    /// A oneDNN memory object over this storage seen as `descriptor` (same bytes, other dims).
    func memory(as descriptor: MemoryDescriptor, op: String) throws -> Memory {
        precondition(descriptor.byteCount <= storage.byteCount)
        return try Memory(descriptor, pointer: storage.pointer, op: op)
    }

    /// Throws unless the tensor computes in Float32.
    func requireFloat32(_ op: String) throws {
        guard dataType == .float32 else {
            throw OpError(op: op, "expects float32, got \(dataType) for shape \(shape); convert with converted(to: .float32)")
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        "Tensor(\(shape), \(descriptor.isPlain ? "plain" : "blocked"), \(dataType)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}
