import ArgumentParser
import Benchmarks
import DNNL

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed; prints tables you can compare across runs on the same machine.",
        subcommands: [Conv.self])

    struct Conv: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of conv forward, backward-data and backward-weights: oneDNN directly vs the conv2d op.")

        @Option(help: "Timed rounds per pass (the median is reported).")
        var rounds = 10

        @Option(help: "oneDNN threads (default: all cores, or TRICKS_NUM_THREADS).")
        var threads: Int?

        func run() throws {
            if let threads { try Threads.set(threads) }
            let benchmark = ConvBenchmark(rounds: rounds)
            print("threads: \(Threads.count), rounds: \(rounds) (median)")
            print("| shape | pass | oneDNN direct GFLOP/s | conv2d op GFLOP/s | op / direct |")
            print("|---|---|---|---|---|")
            for shape in ConvBenchmark.standardShapes {
                for row in try benchmark.run(shape) {
                    let ratio = row.wrapperGFLOPs / row.directGFLOPs
                    print("| \(shape) | \(row.pass) | \(format(row.directGFLOPs)) | \(format(row.wrapperGFLOPs)) | \(format(ratio, digits: 2)) |")
                }
            }
        }
    }
}

func format(_ value: Double, digits: Int = 1) -> String {
    let scale = pow10(digits)
    return String(Double((value * scale).rounded()) / scale)
}

private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }
