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
