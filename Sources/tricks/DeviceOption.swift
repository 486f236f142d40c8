import ArgumentParser
import Tensors

/// `--device` for the commands that run a model without training it (eval, predict).
struct DeviceOption: ParsableArguments {
    @Option(help: "Where to run: cpu, cuda (an NVIDIA GPU), auto (cuda where it loads, else cpu) or reference.")
    var device = "cpu"

    /// The device named; cuda only where it loads (else the reason, in one line).
    func resolve() throws -> Device {
        if device == "auto" { return Device.auto }
        guard let target = Device(rawValue: device) else {
            throw CommandError("--device must be auto, \(Device.allCases.map(\.rawValue).joined(separator: ", ")), got \(device)")
        }
        if target == .cuda { _ = try Tensor.zeros([1], device: .cuda) }  // throws what is missing
        return target
    }
}
