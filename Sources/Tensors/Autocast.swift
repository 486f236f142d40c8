/// Mixed precision with real 16-bit arithmetic, as PyTorch's `torch.autocast(dtype=...)`: while
/// `dataType` is set and the device's backend computes in it natively, convolutions run in that
/// type (16-bit activations and a 16-bit copy of the weights, Float32 accumulation), and the
/// ops that follow them (batch norm, ReLU, pooling, residual adds, concat) keep it, so the
/// activations saved for backward take half the memory. Parameters, their gradients, batch-norm
/// statistics, the fully connected layer, softmax and the loss stay Float32.
///
/// Where the backend lacks the type (oneDNN on a CPU without AVX-512 BF16, the reference
/// backend), everything computes in Float32, as autocast does for ops without a 16-bit kernel;
/// the trainer then emulates the rounding instead (`StoragePrecision`).
public enum Autocast {
    @TaskLocal public static var dataType: DataType?

    /// Runs `body` with ops computing in `type` where the backend can (nothing for `.float32`).
    public static func with<T>(_ type: DataType, _ body: () throws -> T) rethrows -> T {
        try $dataType.withValue(type == .float32 ? nil : type, operation: body)
    }

    /// Whether `device` computes in `type` natively (with 16-bit kernels rather than emulation).
    public static func isNative(_ type: DataType, on device: Device = Device.current) -> Bool {
        device.backend.computesNatively(type)
    }

    /// The type a convolution on `backend` computes in now.
    static func computeType(on backend: any Backend) -> DataType {
        guard let type = dataType, backend.computesNatively(type) else { return .float32 }
        return type
    }
}

extension Tensor {
    /// This tensor with elements of `type`, recorded on the tape: the gradient flows back
    /// converted to this tensor's own type. Itself when it has `type` already.
    public func cast(to type: DataType) throws -> Tensor {
        if dataType == type { return self }
        let result = try converted(to: type)
        if Tensor.recording([self]) {
            let original = dataType
            try result.record("cast", inputs: [self]) { g in [try g.converted(to: original)] }
        }
        return result
    }

    /// This tensor in a type `backend` computes in: itself, or cast to Float32.
    func castForKernel(on backend: any Backend) throws -> Tensor {
        backend.computesNatively(dataType) ? self : try cast(to: .float32)
    }
}

/// Tensors that an op combines elementwise, in one type the backend computes in: their own
/// when they agree and the backend has it, else Float32.
func commonComputeType(_ tensors: [Tensor], on backend: any Backend) throws -> [Tensor] {
    let type = tensors[0].dataType
    let common = tensors.allSatisfy({ $0.dataType == type }) && backend.computesNatively(type) ? type : .float32
    return try tensors.map { try $0.cast(to: common) }
}
