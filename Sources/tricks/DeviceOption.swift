import ArgumentParser
import Tensors

/// `--device` for the commands that run a model without training it (eval, predict).
struct DeviceOption: ParsableArguments {
    @Option(help: "Where to run: cpu, cuda (an NVIDIA GPU), auto (cuda where it loads, else cpu) or reference.")
    var device = "cpu"

    /// The device named; cuda only where it loads (else the reason, in one line).
    func resolve() throws -> Device {
        do { return try Device.named(device) } catch { throw CommandError("\(error)") }
    }
}
