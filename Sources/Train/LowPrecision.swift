import Tensors

/// What `--precision` does on this machine, said once in the run log, and the 16-bit type the
/// recipes choose.
extension PrecisionPath {
    /// One line for the log (nil for fp32): which path runs on `device`, and what emulation costs.
    public func note(on device: Device) -> String? {
        switch self {
        case .float32:
            return nil
        case .emulated(let type) where device == .cuda:
            return "precision \(type.flagName) on cuda: emulated for now: Float32 cuDNN/cuBLAS kernels with every result rounded to "
                + "\(type.flagName)\(type == .float16 ? " and loss scaling" : ""); the backend has no 16-bit tensor-core path yet, so no speed or memory is gained"
        case .native(let type):
            return "precision \(type.flagName): native \(type.flagName) kernels (\(device.kernels)): "
                + "16-bit activations and weight copies; Float32 accumulation, master weights, BatchNorm statistics and loss; no loss scaling"
        case .emulated(.bfloat16):
            return "precision bf16: this CPU has no AVX-512 BF16 (\(device.kernels.name) runs \(device.kernels.instructionSet) kernels), so bf16 is emulated: "
                + "Float32 kernels with every result rounded to bf16, 1.3-1.7x slower than fp32, no memory saved"
        case .emulated(let type):
            return "precision \(type.flagName): no \(type.flagName) arithmetic here (oneDNN 2.6 has no fp16 training kernels on CPUs), so it is "
                + "emulated: Float32 kernels with every result rounded to \(type.flagName) and loss scaling, about 2.6x slower than fp32, no memory saved"
        }
    }
}

extension Recipe {
    /// The recipes' low precision (the paper's section 3.2): bf16 where `device` computes in it
    /// natively (the fast 16-bit path of CPUs with AVX-512 BF16), else the paper's fp16, emulated.
    public static func lowPrecision(on device: Device) -> DataType {
        PrecisionPath.choose(.bfloat16, on: device) == .native(.bfloat16) ? .bfloat16 : .float16
    }
}
