import ArgumentParser
import Benchmarks
import DNNL
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed; prints tables you can compare across runs on the same machine.",
        subcommands: [Conv.self, Loader.self, Train.self])

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

extension Bench {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training-step and inference images/s of a model on synthetic data (median of the rounds after warm-up).")

        @Option(help: "Model name.")
        var model = "cifar_resnet20"

        @Option(name: [.customShort("b"), .long])
        var batchSize = 128

        @Option(help: "Input side.")
        var inputSize = 32

        @Option(help: "Timed rounds.")
        var rounds = 5

        @Option(help: "oneDNN threads.")
        var threads: Int?

        func run() throws {
            if let threads { try Threads.set(threads) }
            let r = try TrainStepBenchmark(model: model, batchSize: batchSize, inputSize: inputSize, rounds: rounds).run()
            print("\(model), batch \(batchSize), \(inputSize)x\(inputSize)x3, \(Threads.count) threads: train \(format(r.trainImagesPerSecond)) img/s "
                  + "(\(format(r.trainSpread.0))-\(format(r.trainSpread.1))), inference \(format(r.inferenceImagesPerSecond)) img/s")
        }
    }

    struct Loader: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Images/s of the input pipeline alone: JPEG decode + the paper's augmentation to 224x224 + batching.")

        @Option(help: "Generated 500x375 JPEG files to read.")
        var images = 256

        func run() throws {
            let benchmark = LoaderBenchmark(images: images)
            let folder = try benchmark.makeFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            print("\(images) JPEGs of 500x375, random-resized crop to 224, flip, colour jitter, PCA lighting, normalise, batch 32")
            print("| workers | full-size decode img/s | scaled decode img/s |")
            print("|---|---|---|")
            for workers in [1, 2] {
                let full = try benchmark.run(folder: folder, workers: workers, scaledDecoding: false)
                let scaled = try benchmark.run(folder: folder, workers: workers, scaledDecoding: true)
                print("| \(workers) | \(format(full)) | \(format(scaled)) |")
            }
        }
    }
}

func format(_ value: Double, digits: Int = 1) -> String {
    let scale = pow10(digits)
    return String(Double((value * scale).rounded()) / scale)
}

private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }
