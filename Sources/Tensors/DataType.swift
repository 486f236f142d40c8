/// Element types. Float32 is what every op computes in; the 16-bit types are storage formats
/// for low-precision training.
public enum DataType: String, Sendable, CaseIterable {
    case float32, float16, bfloat16

    public var byteCount: Int { self == .float32 ? 4 : 2 }
}
