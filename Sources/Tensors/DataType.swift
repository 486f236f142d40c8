/// Element types. Float32 is what every op computes in by default; bfloat16 is also computed in
/// natively where the backend has kernels for it (`Autocast`); otherwise the 16-bit types are
/// storage formats for emulated low-precision training (`StoragePrecision`).
public enum DataType: String, Sendable, CaseIterable {
    case float32, float16, bfloat16

    public var byteCount: Int { self == .float32 ? 4 : 2 }
}
