import DNNL

/// Conversion between Float32 and the 16-bit storage types, both rounding to nearest even.
/// Ops compute in Float32; these are for storing parameters, activations and gradients in
/// half precision (low-precision training).
extension Tensor {
    public func converted(to type: DataType) throws -> Tensor {
        if type == dataType { return self }
        let target = descriptor.with(dataType: type)
        let result = Tensor(empty: target)
        let n = physicalCount
        switch (dataType, type) {
        case (.float32, .float16):
            let (src, dst) = (floats, result.storage.pointer.assumingMemoryBound(to: Float16.self))
            for i in 0..<n { dst[i] = Float16(src[i]) }
        case (.float32, .bfloat16):
            let (src, dst) = (floats, result.storage.pointer.assumingMemoryBound(to: UInt16.self))
            for i in 0..<n { dst[i] = bfloat16Bits(src[i]) }
        case (.float16, .float32):
            let (src, dst) = (storage.pointer.assumingMemoryBound(to: Float16.self), result.floats)
            for i in 0..<n { dst[i] = Float(src[i]) }
        case (.bfloat16, .float32):
            let (src, dst) = (storage.pointer.assumingMemoryBound(to: UInt16.self), result.floats)
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
        default:
            return try converted(to: .float32).converted(to: type)
        }
        return result
    }
}

/// Float32 -> bfloat16 bits, rounding to nearest even; NaN stays NaN.
func bfloat16Bits(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let bits = x.bitPattern
    let roundingBias = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ roundingBias) >> 16)
}
