import ArgumentParser
import Tensors
import Train

/// `--device` for the commands that run a model without training it (eval, predict).
struct DeviceOption: ParsableArguments {
    @Option(help: "Where to run: cpu, cuda (an NVIDIA GPU), auto (cuda where it loads, else cpu) or reference.")
    var device = DeviceChoice.cpu

    @Option(help: "fp32, or bf16: the model computes in bf16 where the CPU does so natively (AVX-512 BF16); eval then also says how often its top-1 agrees with FP32's (default: fp32).")
    var precision = TrainingPrecision.fp32

    /// The precision named: bf16 only where the kernels compute in it natively.
    func resolvedPrecision(on device: Device) throws -> DataType {
        guard precision != .fp16 else { throw CommandError("--precision must be fp32 or bf16 here, not fp16 (training's emulation only)") }
        let type = precision.dataType
        guard type == .float32 || Autocast.isNative(type, on: device) else {
            throw CommandError("--precision bf16: \(device) has no native bf16 kernels here (they need AVX-512 BF16); use fp32")
        }
        return type
    }

    /// The device named; cuda only where it loads (else the reason, in one line).
    func resolve() throws -> Device {
        do { return try Device.named(device.rawValue) } catch { throw CommandError("\(error)") }
    }
}
