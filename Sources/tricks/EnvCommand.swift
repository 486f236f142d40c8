import Diagnostics
import ArgumentParser
import Foundation
import Tensors

/// What this machine offers BagOfTricks, as PyTorch's `collect_env`: the CPU's vector
/// extensions and oneDNN's kernels for them, and CUDA: where each NVIDIA library was found
/// and, on a GPU, a compiled kernel and cuDNN convolutions checked against the CPU.
struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "The CPU, oneDNN and CUDA as BagOfTricks sees them; on a GPU, checks NVRTC, the driver and cuDNN against the CPU.")

    @Flag(help: "Exit with status 1 unless a GPU was found and every CUDA step passed (scripts/gpu-check.sh).")
    var requireCUDA = false

    func run() throws {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown"
        let flagLine = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let flags = Set(flagLine.split(separator: " ").map(String.init))
            .filter { $0 == "avx2" || $0.hasPrefix("avx512") || $0.hasPrefix("amx") }.sorted()
        print("CPU: \(model), \(ProcessInfo.processInfo.activeProcessorCount) cores; \(flags.isEmpty ? "no AVX2" : flags.joined(separator: " "))")
        let kernels = Device.cpu.kernels
        print("\(kernels.name) \(kernels.version ?? ""): kernels for \(kernels.instructionSet); bf16 "
              + (Autocast.isNative(.bfloat16, on: .cpu) ? "native" : "emulated (no AVX-512 BF16)"))
        let check = CUDACheck()
        print("CUDA:")
        for line in check.lines { print("  " + line) }
        if requireCUDA && !check.passed {
            throw CommandError("CUDA is not usable here (--require-cuda): see the lines above")
        }
    }
}
