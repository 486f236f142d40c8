/// Where a tensor's memory lives and whose kernels compute on it, as PyTorch's `torch.device`.
///
/// - `cpu`: oneDNN's kernels (`Backends/OneDNN`), with the layouts they choose.
/// - `reference`: plain Swift loops over row-major memory (`Backends/Reference`): slow and
///   obviously correct, the yardstick the parity tests hold every other backend to.
/// - `cuda`: an NVIDIA GPU through CUDA, cuDNN and cuBLAS loaded at run time (`Backends/CUDA`).
///
/// Tensors are made on `Device.current` unless told otherwise; an op takes its inputs from one
/// device and leaves its result there. Moving between devices is an explicit copy (`to(_:)`).
public enum Device: String, Sendable, CaseIterable, CustomStringConvertible {
    case cpu, reference, cuda

    /// The device that new tensors (parameters, batches, constants) are made on.
    @TaskLocal public static var current: Device = .cpu

    /// Runs `body` with `device` as the place where new tensors are made.
    public static func with<T>(_ device: Device, _ body: () throws -> T) rethrows -> T {
        try $current.withValue(device, operation: body)
    }

    /// The backend that owns this device's memory and kernels: the one place where backends
    /// are registered.
    package var backend: any Backend {
        switch self {
        case .cpu: OneDNNBackend.shared
        case .reference: ReferenceBackend.shared
        case .cuda: CUDABackend.shared
        }
    }

    /// Waits until the device has finished all work queued so far (a GPU's kernels run after
    /// their launch returns): for timing. Nothing to wait for on the CPU backends.
    public func synchronize() throws {
        if self == .cuda { try CUDABackend.shared.runtime.synchronize() }
    }

    /// Device memory statistics (bytes held by tensors and the most at once) on a GPU; nil elsewhere.
    public var memoryStatistics: (allocated: Int, peakAllocated: Int)? {
        guard self == .cuda, let s = CUDABackend.shared.memoryStatistics else { return nil }
        return (s.allocated, s.peakAllocated)
    }

    /// `cuda` where the CUDA backend loads and finds a GPU (never its emulation), else `cpu`:
    /// what `--device auto` means.
    public static var auto: Device { CUDABackend.shared.hasGPU ? .cuda : .cpu }

    /// The device a `--device` value names: `auto` or one of the cases, and `cuda` only where
    /// its backend loads (else the one-line reason). Errors name the flag.
    public static func named(_ name: String) throws -> Device {
        if name == "auto" { return .auto }
        guard let device = Device(rawValue: name) else {
            throw OpError(op: "--device", "must be auto or one of \(allCases.map(\.rawValue).joined(separator: ", ")), got \(name)")
        }
        if device == .cuda, case .failure(let error) = CUDABackend.availability { throw OpError(op: "--device", "cuda: \(error)") }
        return device
    }

    /// Which kernels compute here, for logs and reports (e.g. oneDNN 2.6.3 running
    /// avx512_core_bf16 kernels), so that code above this module never asks a backend itself.
    public var kernels: KernelLibrary { backend.kernels }

    public var description: String { rawValue }
}

/// The library behind a device's kernels, its version, and the instruction set (or the
/// runtime) they run on.
public struct KernelLibrary: Sendable, CustomStringConvertible {
    public let name: String
    public let version: String?
    /// As the library names it: oneDNN's ISA (`avx2`, `avx512_core_bf16`, `avx512_core_amx`) on
    /// the CPU, the GPU or its emulation on `cuda`.
    public let instructionSet: String

    public var description: String { "\(name)\(version.map { " " + $0 } ?? ""), \(instructionSet)" }
}

/// The one device that all of an op's tensors are on; an error naming both otherwise.
func commonDevice(_ op: String, _ tensors: [Tensor?]) throws -> Device {
    let present = tensors.compactMap { $0 }
    guard let first = present.first else { return Device.current }
    for t in present where t.device != first.device {
        throw OpError(op: op, "tensors on different devices: \(first.device) (shape \(first.shape)) and \(t.device) (shape \(t.shape)); move one with to(_:)")
    }
    return first.device
}
