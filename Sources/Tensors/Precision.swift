/// Conversion between Float32 and the 16-bit storage types, both rounding to nearest even.
/// Ops compute in Float32; these are for storing parameters, activations and gradients in
/// half precision (low-precision training).
extension Tensor {
    /// This tensor with elements of `type`, or itself when it has them already.
    public func converted(to type: DataType) throws -> Tensor {
        try backend.converted(self, to: type)
    }

    /// Rounds every stored element to `type` in place (the tensor stays Float32).
    public func roundInPlace(to type: DataType) throws {
        try backend.roundInPlace(self, to: type)
        markChanged()
    }
}

/// Float32 -> bfloat16 bits, rounding to nearest even; NaN stays NaN.
@usableFromInline
func bfloat16Bits(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let bits = x.bitPattern
    let roundingBias = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ roundingBias) >> 16)
}

/// Low-precision training (the paper's FP16, section 3.2) on a CPU without 16-bit arithmetic:
/// while `storage` is set, every recorded op's output and every gradient `backward()` passes on
/// is rounded to that 16-bit type in place (computation between roundings stays Float32).
public enum StoragePrecision {
    @TaskLocal public static var storage: DataType?

    /// Runs `body` with activations and gradients rounded to `type` (nothing for `.float32`).
    public static func with<T>(_ type: DataType, _ body: () throws -> T) rethrows -> T {
        try $storage.withValue(type == .float32 ? nil : type, operation: body)
    }
}

/// x rounded to the nearest `type` value (round to nearest even), back in Float32. Float16
/// overflows to infinity past 65504, as the hardware does: what the loss scaler watches for.
@inlinable
public func rounded(_ x: Float, to type: DataType) -> Float {
    switch type {
    case .float32: return x
    case .float16: return roundedToHalf(x)
    case .bfloat16: return Float(bitPattern: UInt32(bfloat16Bits(x)) << 16)
    }
}

/// `Float(Float16(x))` with integer arithmetic: without F16C, Swift's Float16 conversion is a
/// library call per element, too slow for every activation of a network.
@inlinable
public func roundedToHalf(_ x: Float) -> Float {
    let magnitude = abs(x)
    if !(magnitude < 65520) { return x.isNaN ? x : (x < 0 ? -.infinity : .infinity) }  // past the largest half, 65504
    if magnitude < 6.103515625e-05 {  // half subnormals: multiples of 2^-24
        return (x * 16_777_216).rounded(.toNearestOrEven) / 16_777_216
    }
    // Keep 10 mantissa bits, rounding to nearest even.
    let bits = x.bitPattern
    return Float(bitPattern: (bits &+ 0xFFF &+ ((bits >> 13) & 1)) & ~0x1FFF)
}

/// How a run computes for a `--precision`: in Float32; natively in 16 bits (`Autocast`: oneDNN's
/// bfloat16 kernels on a CPU with AVX-512 BF16); or emulated (`StoragePrecision`: Float32
/// kernels with every activation and gradient rounded to the 16-bit type, 16-bit parameters
/// with Float32 master copies), where the device has no such arithmetic.
public enum PrecisionPath: Equatable, Sendable, CustomStringConvertible {
    case float32
    case native(DataType)
    case emulated(DataType)

    /// The fast path for `type` on `device` where it has one, else the emulation.
    public static func choose(_ type: DataType, on device: Device) -> PrecisionPath {
        if type == .float32 { return .float32 }
        return device.backend.computesNatively(type) ? .native(type) : .emulated(type)
    }

    public var dataType: DataType {
        switch self {
        case .float32: .float32
        case .native(let type), .emulated(let type): type
        }
    }

    /// Runs a forward and backward pass in this precision.
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        switch self {
        case .float32: try body()
        case .native(let type): try Autocast.with(type, body)
        case .emulated(let type): try StoragePrecision.with(type, body)
        }
    }

    /// The type parameters are rounded to after each step, their Float32 masters kept apart
    /// (emulation only: natively, the parameters are the Float32 masters and each convolution
    /// takes a 16-bit copy).
    public var roundedParameters: DataType? {
        if case .emulated(let type) = self { return type }
        return nil
    }

    /// Whether the loss is scaled (dynamically) so that small gradients survive 16 bits. Not
    /// for native bfloat16, whose range is Float32's (PyTorch's bf16 autocast scales nothing);
    /// the emulation keeps the paper's scheme for both types.
    public var scalesLoss: Bool {
        if case .emulated = self { return true }
        return false
    }

    /// For logs, e.g. "bf16 native (oneDNN bfloat16 kernels)".
    public var description: String {
        switch self {
        case .float32: "fp32"
        case .native(let type): "\(type.flagName) native (16-bit kernels, Float32 accumulation and master weights)"
        case .emulated(let type): "\(type.flagName) emulated (Float32 kernels, results rounded to \(type.flagName))"
        }
    }
}

extension DataType {
    /// The `--precision` value: fp32, fp16, bf16.
    public var flagName: String {
        switch self {
        case .float32: "fp32"
        case .float16: "fp16"
        case .bfloat16: "bf16"
        }
    }

    /// The type a `--precision` value names (nil for anything but fp32, fp16, bf16).
    public init?(flagName: String) {
        guard let type = DataType.allCases.first(where: { $0.flagName == flagName }) else { return nil }
        self = type
    }
}
