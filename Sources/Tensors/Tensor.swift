/// An n-dimensional array of Float32 (or 16-bit storage) on a device, with an optional gradient.
///
/// `shape` is the logical NCHW shape, as in PyTorch. How the elements lie in memory (`layout`)
/// is the device's backend's business: oneDNN's blocked nChw8c/nChw16c on the CPU, plain
/// row-major on the reference backend. Ops keep whatever layout their producer chose and
/// reorder only where a consumer needs another one; `scalars` always reads in logical row-major
/// order, copied to the host.
public final class Tensor {
    public let shape: [Int]
    public let device: Device
    package let layout: any Layout
    package var storage: Storage

    /// Whether `backward()` should fill `grad` (leaves) or pass gradients through (op results).
    public var requiresGrad: Bool
    /// The accumulated gradient, in this tensor's own layout. Set to nil to zero it.
    public var grad: Tensor?
    /// The op that produced this tensor, while a tape is recorded.
    var gradNode: GradNode?

    package init(shape: [Int], layout: any Layout, device: Device, storage: Storage, requiresGrad: Bool = false) {
        self.shape = shape
        self.layout = layout
        self.device = device
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// A plain Float32 tensor holding `scalars` in row-major order, on `device`.
    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false, device: Device = Device.current) throws {
        guard shape.allSatisfy({ $0 > 0 }) else { throw OpError(op: "tensor", "shape \(shape) has a non-positive dimension") }
        let count = shape.reduce(1, *)
        guard scalars.count == count else {
            throw OpError(op: "tensor", "\(scalars.count) values do not fill shape \(shape) (\(count) elements)")
        }
        let made = try scalars.withUnsafeBufferPointer { try device.backend.tensor(shape: shape, values: $0) }
        self.init(shape: shape, layout: made.layout, device: device, storage: made.storage, requiresGrad: requiresGrad)
    }

    /// A plain Float32 tensor with every element equal to `value`.
    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false, device: Device = Device.current) throws -> Tensor {
        try Tensor(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)), requiresGrad: requiresGrad, device: device)
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false, device: Device = Device.current) throws -> Tensor {
        try full(shape, 0, requiresGrad: requiresGrad, device: device)
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
    public var dataType: DataType { layout.dataType }
    /// Whether the elements lie in PyTorch's contiguous row-major order.
    public var isPlain: Bool { layout.isPlain }
    var backend: any Backend { device.backend }

    /// The elements as Float32 in logical row-major order (a copy in host memory).
    public var scalars: [Float] {
        get throws { try backend.scalars(self) }
    }

    /// This tensor's values on `target` (a copy in that device's plain layout), or itself when
    /// it is already there. Not recorded on the tape.
    public func to(_ target: Device) throws -> Tensor {
        if target == device { return self }
        return try Tensor(shape: shape, scalars: scalars, device: target)
    }

    /// Overwrites the elements in place from logical row-major `values` (the layout is kept).
    /// For optimisers and checkpoint loading; not recorded on the tape.
    public func assign(_ values: [Float]) throws {
        guard values.count == count else {
            throw OpError(op: "assign", "\(values.count) values for a tensor of shape \(shape) (\(count) elements)")
        }
        try assign(Tensor(shape: shape, scalars: values, device: device))
    }

    /// Overwrites the elements in place with those of `source` (same shape, any layout, type or device).
    public func assign(_ source: Tensor) throws {
        guard source.shape == shape else { throw OpError(op: "assign", "source shape \(source.shape) differs from \(shape)") }
        try backend.assign(self, from: source.to(device))
        markChanged()
    }

    /// Which write of its storage this tensor's values are: changes with every in-place write
    /// (`assign`, `withUnsafeMutableFloats`, a kernel that updates it and says so).
    public var version: Int { storage.version }

    /// The storage's identity: a tensor given new storage is new values whatever its version.
    package var storageIdentity: ObjectIdentifier { ObjectIdentifier(storage) }

    /// Records that the values changed in place (a kernel's running statistics).
    public func markChanged() { storage.version &+= 1 }

    /// Whether the elements are in host memory (the CPU backends), where
    /// `withUnsafeMutableFloats` can reach them; a GPU's tensors are not.
    public var isInHostMemory: Bool { storage is HostStorage }

    /// Direct access to the elements of a plain Float32 tensor in host memory, in row-major
    /// order: for optimisers, which update parameters in place. Device memory is never handed
    /// out as a host pointer: such a tensor throws here.
    public func withUnsafeMutableFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        guard isPlain, dataType == .float32, let host = storage as? HostStorage else {
            throw OpError(op: "in-place access", "needs a plain float32 tensor in host memory, got \(layout) on \(device)")
        }
        defer { markChanged() }
        return try body(UnsafeMutableBufferPointer(start: host.floats, count: count))
    }

    /// The value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else { throw OpError(op: "item", "tensor of shape \(shape) has \(count) elements, not 1") }
        return try scalars[0]
    }

    /// The same storage without gradient history: what a backward closure saves, so that a
    /// result never holds its own graph node alive.
    public func detached() -> Tensor {
        Tensor(shape: shape, layout: layout, device: device, storage: storage)
    }

    /// This tensor in `target`'s layout and type, or itself when it is already there.
    public func reordered(like target: Tensor) throws -> Tensor {
        guard target.shape == shape else { throw OpError(op: "reorder", "cannot reorder shape \(shape) like \(target.shape)") }
        return try backend.reordered(self, like: target.to(device))
    }

    /// Plain row-major layout (of the same element type): what checkpoints and host code read.
    public func contiguous() throws -> Tensor {
        try backend.contiguous(self)
    }

    /// A plain tensor seen with other dims of the same element count, sharing storage.
    func view(as newShape: [Int]) -> Tensor {
        precondition(isPlain && newShape.reduce(1, *) == count)
        return Tensor(shape: newShape, layout: backend.plainLayout(newShape, dataType: dataType), device: device, storage: storage)
    }

    /// Throws unless the tensor computes in Float32.
    func requireFloat32(_ op: String) throws {
        guard dataType == .float32 else {
            throw OpError(op: op, "expects float32, got \(dataType) for shape \(shape); convert with converted(to: .float32)")
        }
    }
}

/// The storage of one tensor and its views, owned by a backend (host memory for the CPU
/// backends; device memory for an accelerator). Only the backend that made it reads inside.
package class Storage {
    package let byteCount: Int
    /// Counts the writes through `Tensor.assign`, `withUnsafeMutableFloats` and `markChanged`:
    /// how what is derived from a parameter (inference's folded weights) knows to recompute.
    package var version = 0
    package init(byteCount: Int) { self.byteCount = byteCount }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        "Tensor(\(shape), \(isPlain ? "plain" : "blocked"), \(dataType), \(device)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}
