import Diagnostics
import ArgumentParser
import Foundation
import Benchmarks
import Tensors

/// The backend parity tests for a machine without Swift or XCTest (a GPU machine gets only the
/// bundle): every op forward and backward, a training step of zoo models, the optimiser step
/// and a checkpoint, on `--device` against `--against`, one line each, exit status 1 if any
/// differs by more than its tolerance. The XCTest suites (`BackendOpParityTests`,
/// `CUDABackendModelTests`, `SGDTests`) check the same on every CI run through the CUDA
/// backend's host emulation; this is how a GPU run checks cuDNN, cuBLAS and the compiled kernels.
struct SelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check a backend against another, op by op and model by model (scripts/gpu-check.sh runs it on a GPU).")

    @Option(help: "The backend under test: cuda, cpu or reference.")
    var device = "cuda"

    @Option(help: "The backend it is compared with.")
    var against = "cpu"

    func run() throws {
        guard let tested = Device(rawValue: device), let baseline = Device(rawValue: against), tested != baseline else {
            throw CommandError("--device and --against must be two different devices of \(Device.allCases.map(\.rawValue)), got \(device) and \(against)")
        }
        // One line and status 1 where a device cannot run (cuda without a GPU), before any check.
        for (flag, device) in [("--device", tested), ("--against", baseline)] {
            do { _ = try Device.named(device.rawValue) } catch let error as OpError {
                throw CommandError("\(flag) \(device) cannot run here (\(error.message)); without a GPU, check the CPU backend with "
                                   + "`tricks selftest --device cpu --against reference`")
            }
        }
        // cuDNN's FMA kernels, not TF32's 10-bit products: the comparison is of the arithmetic.
        if getenv("TRICKS_CUDNN_TF32") == nil { setenv("TRICKS_CUDNN_TF32", "0", 1) }
        var check = ParityCheck(tested: tested, baseline: baseline)
        let started = Date()
        try check.ops()
        try check.optimizer()
        try check.models()
        try check.checkpoint()
        let failed = check.results.filter { !$0.passed }
        print(String(format: "%d checks, %d failed, %.1f s", check.results.count, failed.count, Date().timeIntervalSince(started)))
        if !failed.isEmpty { throw CommandError("\(tested) differs from \(baseline): " + failed.map(\.name).joined(separator: ", ")) }
    }
}
