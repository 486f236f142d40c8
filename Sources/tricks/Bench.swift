import Tensors
import ArgumentParser
import Benchmarks
import Data
import NN
import Train
import Distributed
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed; prints tables you can compare across runs on the same machine.",
        subcommands: [Conv.self, Loader.self, Train.self, Infer.self, Detect.self, Allreduce.self])

    struct Conv: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of conv forward, backward-data and backward-weights: oneDNN directly vs the conv2d op.")

        @Option(help: "Timed rounds per pass (the median is reported).")
        var rounds = 10

        @Option(help: "oneDNN threads (default: all cores, or TRICKS_NUM_THREADS).")
        var threads: Int?

        @Option(help: "fp32, or bf16 where the CPU has AVX-512 BF16 (weight gradients stay FP32).")
        var precision = TrainingPrecision.fp32

        func run() throws {
            if let threads { try Threads.set(threads) }
            let type = precision.dataType
            guard precision != .fp16 else { throw CommandError("--precision must be fp32 or bf16 here (oneDNN 2.6 has no fp16 kernels on CPUs), got fp16") }
            guard PrecisionPath.choose(type, on: .cpu) != .emulated(type) else {
                throw CommandError("--precision \(precision): this CPU has no \(precision) kernels (\(Device.cpu.kernels.name) runs \(Device.cpu.kernels.instructionSet))")
            }
            let benchmark = ConvBenchmark(rounds: rounds, dataType: type)
            print("threads: \(Threads.count), rounds: \(rounds) (median), \(precision)")
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
            abstract: "Training-step and inference images/s, GFLOP/s and peak memory on synthetic data (median of the rounds after warm-up).",
            discussion: """
            Without --model, runs issue 7's rows (ResNet-20 and small-stem ResNet-18 at batch 128, 32x32; ResNet-50 and -D at \
            batch 16, 224x224; MobileNet v1 at batch 32, 224x224), each in its own process so that peak memory is per row, \
            and reports GFLOP/s against the measured sgemm peak.
            """)

        @Option(help: "Model name (default: all of the standard rows).")
        var model: String?

        @Option(name: [.customShort("b"), .long])
        var batchSize = 128

        @Option(help: "Input side.")
        var inputSize = 32

        @Option(help: "Timed rounds.")
        var rounds = 5

        @Option(help: "oneDNN threads.")
        var threads: Int?

        @Option(help: "fp32, bf16 or fp16, run as `tricks train` runs it: bf16 natively where the CPU has AVX-512 BF16, else emulated.")
        var precision = TrainingPrecision.fp32

        @Option(help: "cpu, cuda, auto (cuda where it loads, else cpu) or reference.")
        var device = DeviceChoice.cpu

        @Flag(help: "Print one JSON object (used by the rows table and bench/pytorch_reference.py).")
        var json = false

        func run() throws {
            if let threads { try Threads.set(threads) }
            let target: Device
            do { target = try Device.named(device.rawValue) } catch { throw CommandError("\(error)") }
            let type = precision.dataType
            guard let model else { return try runStandardRows(type) }
            let r = try TrainStepBenchmark(model: model, batchSize: batchSize, inputSize: inputSize, rounds: rounds, precision: type, device: target).run()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                print(String(decoding: try encoder.encode(r), as: UTF8.self))
                return
            }
            let place = target == .cuda ? "on cuda (\(format(r.devicePeakMB ?? .nan, digits: 0)) MB of GPU memory at most)" : "\(Threads.count) threads"
            print("\(model), batch \(batchSize), \(inputSize)x\(inputSize)x3, \(place), \(r.precisionPath): train \(format(r.trainImagesPerSecond)) img/s "
                  + "(\(format(r.trainSlowest))-\(format(r.trainFastest))), \(format(r.trainGFLOPs)) GFLOP/s; inference \(format(r.inferenceImagesPerSecond)) img/s; "
                  + "peak RSS \(format(r.peakResidentMB, digits: 0)) MB")
        }

        private func runStandardRows(_ type: DataType) throws {
            let peak = try SgemmPeak.measure()
            print("\(Threads.count) threads; \(PrecisionPath.choose(type, on: .cpu)); sgemm peak \(format(peak)) GFLOP/s; median of \(rounds) steps after 2 warm-up (slowest-fastest)")
            print("| model | batch, input | train img/s | train GFLOP/s (% of sgemm) | inference img/s | peak RSS MB |")
            print("|---|---|---|---|---|---|")
            for row in TrainStepBenchmark.standardRows {
                var arguments = ["bench", "train", "--model", row.model, "-b", "\(row.batch)", "--input-size", "\(row.input)", "--rounds", "\(rounds)",
                                 "--precision", precision.rawValue, "--device", device.rawValue, "--json"]
                if let threads { arguments += ["--threads", "\(threads)"] }
                let r = try JSONDecoder().decode(TrainStepBenchmark.Result.self, from: try runSelf(arguments))
                print("| \(row.model) | \(row.batch), \(row.input)x\(row.input)x3 | \(format(r.trainImagesPerSecond)) (\(format(r.trainSlowest))-\(format(r.trainFastest))) "
                      + "| \(format(r.trainGFLOPs)) (\(format(100 * r.trainGFLOPs / peak, digits: 0))%) | \(format(r.inferenceImagesPerSecond)) | \(format(r.peakResidentMB, digits: 0)) |")
            }
        }
    }
}

/// Runs this executable with `arguments` and returns its standard output; a failure names the command.
func runSelf(_ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandError("`tricks \(arguments.joined(separator: " "))` exited with status \(process.terminationStatus)")
    }
    return output
}

extension Bench {
    struct Loader: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Images/s of the input pipeline alone: JPEG decode + the paper's augmentation to 224x224 + batching.",
            discussion: "With --data, a folder of class folders (or one holding train/) read with the pipeline `tricks train` gives it: "
                + "--augment small (pad 4, random crop, flip, as for CIFAR-10) or imagenet, at --batch-size; compare with the "
                + "training step's img/s of `tricks bench train --model M -b B`.")

        @Option(help: "Generated 500x375 JPEG files to read (without --data); with --data, the images timed (default: 10000).")
        var images: Int?
        @Option(help: "A folder of class folders (or one holding train/) to read instead of generated photos.")
        var data: String?
        @Option(help: "With --data: small or imagenet (default: small for images of at most 64 pixels a side).")
        var augment: String?
        @Option(name: [.customShort("b"), .long], help: "With --data: images per batch (default: 128 for small images, 32 otherwise).")
        var batchSize: Int?

        func run() throws {
            if let data { return try runFolder(data) }
            let benchmark = LoaderBenchmark(images: images ?? 256)
            let folder = try benchmark.makeFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            print("\(benchmark.images) JPEGs of 500x375, random-resized crop to 224, flip, colour jitter, PCA lighting, normalise, batch 32")
            print("| workers | full-size decode img/s | scaled decode img/s |")
            print("|---|---|---|")
            for workers in [1, 2] {
                let full = try benchmark.run(folder: folder, workers: workers, scaledDecoding: false)
                let scaled = try benchmark.run(folder: folder, workers: workers, scaledDecoding: true)
                print("| \(workers) | \(format(full)) | \(format(scaled)) |")
            }
        }

        func runFolder(_ path: String) throws {
            let root = FileManager.default.fileExists(atPath: path + "/train") ? path + "/train" : path
            let dataset = try ImageFolder(root: root)
            let first = try dataset.image(at: 0)
            let small = max(first.width, first.height) <= 64
            let kind = augment ?? (small ? "small" : "imagenet")
            guard kind == "small" || kind == "imagenet" else { throw CommandError("--augment: '\(kind)' is not small or imagenet") }
            let batch = batchSize ?? (kind == "small" ? 128 : 32)
            let transform = kind == "small" ? Pipelines.smallImageTrain(normalize: .imagenet) : Pipelines.imagenetTrain(normalize: .imagenet)
            let count = min(images ?? 10_000, dataset.count)
            print("\(root): \(dataset.count) images (the first \(first.width)x\(first.height)); \(count) timed, augment \(kind), batch \(batch)")
            // The first epoch decodes; later ones read what a folder small enough keeps decoded
            // (ImageFolder's cacheBytes, 1 GiB): the same images again, from a fresh folder per row.
            print("| workers | loader img/s, first epoch | later epochs |")
            print("|---|---|---|")
            for workers in [1, 2] {
                let folder = try ImageFolder(root: root)
                let first = try LoaderBenchmark.folderRate(folder, transform: transform, batchSize: batch, workers: workers, images: count)
                let kept = folder.decodedCount
                let later = kept > 0 ? try LoaderBenchmark.folderRate(folder, transform: transform, batchSize: batch, workers: workers, images: count) : 0
                let how = kept >= count ? "decoded once, in memory" : kept > 0 ? "\(kept) of \(count) kept decoded" : "decoded again: too large to keep"
                print("| \(workers) | \(format(first)) | \(kept > 0 ? format(later) + " (\(how))" : how) |")
            }
        }
    }
}

func format(_ value: Double, digits: Int = 1) -> String {
    if digits == 0 { return String(Int(value.rounded())) }
    let scale = pow10(digits)
    return String(Double((value * scale).rounded()) / scale)
}

private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }

extension Bench {
    struct Allreduce: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Under mpirun: compute vs gradient allreduce time per training step, and the scaling it predicts on 8 and 64 machines.",
            discussion: "mpirun -np 2 --oversubscribe --allow-run-as-root tricks bench allreduce")

        @Option(help: "Models to measure, comma-separated, each with its batch and input: name:batch:input.")
        var rows = "cifar_resnet20:128:32,resnet50b:16:224"

        @Option(help: "Timed steps (the median is reported).")
        var rounds = 5

        @Option(help: "Gradient bucket size in MB.")
        var bucketMB = 25.0

        func run() throws {
            guard MPICollective.launchedByMPI else {
                throw CommandError("run it under mpirun: mpirun -np 2 --oversubscribe --allow-run-as-root tricks bench allreduce")
            }
            let mpi = try MPICollective()
            try Threads.set(max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, mpi.localSize)))
            let primary = mpi.rank == 0
            if primary {
                print("\(mpi.size) ranks (\(mpi.localSize) on this machine), \(Threads.count) oneDNN thread(s) each; per-step medians of \(rounds)")
                print("| model | batch per rank, input | gradients MB | compute s | allreduce s | allreduce / compute | bus GB/s |")
                print("|---|---|---|---|---|---|---|")
            }
            var measured: [(String, Int, AllreduceBenchmark.Result)] = []
            for row in rows.split(separator: ",") {
                let parts = row.split(separator: ":")
                guard parts.count == 3, let batch = Int(parts[1]), let input = Int(parts[2]) else {
                    throw CommandError("--rows: expected name:batch:input, got \(row)")
                }
                let r = try AllreduceBenchmark(model: String(parts[0]), batchSize: batch, inputSize: input, rounds: rounds, bucketMB: bucketMB)
                    .run(collective: mpi)
                measured.append((String(parts[0]), batch, r))
                if primary {
                    print("| \(parts[0]) | \(batch), \(input)x\(input) | \(format(Double(r.gradientBytes) / 1e6)) | \(format(r.computeSeconds, digits: 3)) "
                          + "| \(format(r.allreduceSeconds, digits: 4)) | \(format(r.allreduceSeconds / r.computeSeconds, digits: 4)) | \(format(r.busBandwidth / 1e9, digits: 2)) |")
                }
            }
            if primary {
                // A machine like this one running one rank on all its cores computes a step in about
                // threads/cores of the time measured here (oneDNN scales nearly linearly on 2 cores).
                let machineShare = Double(Threads.count) / Double(ProcessInfo.processInfo.activeProcessorCount)
                print("\nPredicted scaling efficiency, compute / (compute + ring allreduce), no overlap, 50 us per message; compute = this")
                print("run's per-step compute x \(format(machineShare, digits: 2)) (one rank per machine like this one, on all of its cores):")
                print("| model | machines | 10 Gbit/s: allreduce s, efficiency | 100 Gbit/s: allreduce s, efficiency |")
                print("|---|---|---|---|")
                for (model, _, r) in measured {
                    let compute = r.computeSeconds * machineShare
                    for machines in [8, 64] {
                        let cells = [10e9, 100e9].map { bits -> String in
                            let t = AllreduceBenchmark.ringAllreduceSeconds(bytes: r.gradientBytes, machines: machines, bitsPerSecond: bits)
                            return "\(format(t, digits: 4)), \(format(100 * compute / (compute + t)))%"
                        }
                        print("| \(model) | \(machines) | \(cells[0]) | \(cells[1]) |")
                    }
                }
            }
            mpi.finalize()
        }
    }
}

extension Bench {
    struct Infer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inference images/s and milliseconds per batch (median and 90th percentile), fused (as predict and eval run) and unfused.",
            discussion: "Without --model, issue 31's rows (ResNet-20 at 32x32; ResNet-50, ResNet-50-D, MobileNet v1 and FCN ResNet-50 at "
                + "224x224), each at batch 1 and 16. bench/inference_reference.py runs onnxruntime and PyTorch beside it.")

        @Option(help: "Model name (default: issue 31's rows).")
        var model: String?

        @Option(name: [.customShort("b"), .long], help: "Batch sizes, comma-separated.")
        var batchSizes = "1,16"

        @Option(help: "Input side (default: 32 for cifar_ models, 224 otherwise).")
        var inputSize: Int?

        @Option(help: "Timed rounds (after 3 warm-up ones).")
        var rounds = 20

        @Option(help: "oneDNN threads.")
        var threads: Int?

        @Option(help: "fp32, or bf16 where the CPU computes in it natively.")
        var precision = TrainingPrecision.fp32

        @Option(help: "Weights for --model: a checkpoint, or a torchvision/timm state dict (default: random).")
        var weights: String?

        @Option(help: "With --weights: the latency of predicting this JPEG or PNG, reading, decoding and preprocessing included (as `tricks predict` runs it).")
        var image: String?

        @Flag(help: "Only the fused path (skip the unfused comparison).")
        var fusedOnly = false

        @Flag(help: "One JSON object per line.")
        var json = false

        func run() throws {
            if let threads { try Threads.set(threads) }
            let type = precision.dataType
            guard precision != .fp16, Autocast.isNative(type) else {
                throw CommandError("--precision must be fp32, or bf16 on a CPU with AVX-512 BF16; got \(precision)")
            }
            let batches = try batchSizes.split(separator: ",").map { part -> Int in
                guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0 else { throw CommandError("--batch-sizes: not a batch size: \(part)") }
                return n
            }
            let rows = model.map { [($0, inputSize ?? ($0.hasPrefix("cifar_") ? 32 : 224))] } ?? InferenceBenchmark.standardRows.map { ($0.model, inputSize ?? $0.input) }
            if !json {
                print("\(Threads.count) threads, \(precision), \(rounds) rounds after 3 warm-up; \(Device.cpu.kernels)")
                print("| model | input | batch | fused img/s | fused ms (median, p90) | unfused img/s | fused / unfused |")
                print("|---|---|---:|---:|---|---:|---:|")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            if weights != nil && model == nil { throw CommandError("--weights needs --model") }
            let loaded = try weights.map { try Checkpoint.loadModel($0, model: model, segmentation: true) }
            if let image {
                guard let (net, info) = loaded else { throw CommandError("--image needs --weights (and --model for a state dict)") }
                return try latency(net, info: info, image: image, precision: type)
            }
            for (name, side) in rows {
                for batch in batches {
                    let fused = try InferenceBenchmark(model: name, batchSize: batch, inputSize: side, rounds: rounds, precision: type).run(loaded?.0)
                    let plain = fusedOnly ? nil : try InferenceBenchmark(model: name, batchSize: batch, inputSize: side, rounds: rounds,
                                                                        precision: type, fused: false).run(loaded?.0)
                    if json {
                        for r in [fused] + (plain.map { [$0] } ?? []) { print(String(decoding: try encoder.encode(r), as: UTF8.self)) }
                        continue
                    }
                    print("| \(name) | \(side)x\(side) | \(batch) | \(format(fused.imagesPerSecond)) | \(format(fused.medianMilliseconds)), "
                          + "\(format(fused.p90Milliseconds)) | \(plain.map { format($0.imagesPerSecond) } ?? "-") | "
                          + "\(plain.map { format(fused.imagesPerSecond / $0.imagesPerSecond, digits: 2) } ?? "-") |")
                }
            }
        }

        /// Milliseconds from the file to the probabilities, median and 90th percentile of `rounds`
        /// runs after 3 warm-up ones.
        func latency(_ net: Module, info: ModelInfo, image: String, precision: DataType) throws {
            let times = try RoundTimes(rounds: rounds, warmUp: 3) { _ = try ClassificationTask.predict(net, info: info, path: image, precision: precision) }
            let (median, p90) = (1000 * times.median, 1000 * times.p90)
            if json {
                print("{\"medianMilliseconds\":\(median),\"p90Milliseconds\":\(p90)}")
            } else {
                print("\(info.model) on \(image), \(Threads.count) threads, \(precision.flagName): median \(format(median)) ms, "
                      + "90th percentile \(format(p90)) ms over \(rounds) runs (reading, decoding, preprocessing and the model)")
            }
        }
    }
}

extension Bench {
    struct Detect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "fasterrcnn_resnet50_fpn: a training step on 2 images or inference on 1, images/s, peak memory and the share of time in RoIAlign and NMS.",
            discussion: "bench/detection_reference.py runs this beside torchvision with the same weights and images, each row in its own process.")

        @Option(help: "train (forward, losses, backward, SGD on the batch) or infer (one image).") var mode = "train"
        @Option(help: "The shorter side images are resized to.") var minSize = 512
        @Option(help: "Timed rounds (the median is reported) after 2 warm-up ones.") var rounds = 5
        @Option(help: "A fasterrcnn_resnet50_fpn state dict to load (default: initialised here).") var weights: String?
        @Option(help: "A safetensors file of image0, boxes0, labels0, ... (default: two generated 512x683 images).") var inputs: String?
        @Option(help: "oneDNN threads (default: all cores).") var threads: Int?
        @Option(help: "fp32, or bf16 where the CPU computes in it natively (as detect train and predict run it).") var precision: TrainingPrecision = .fp32
        @Flag(help: "Print the result as one JSON line.") var json = false

        func run() throws {
            if let threads { try Threads.set(threads) }
            guard let which = DetectionBenchmark.Mode(rawValue: mode) else { throw CommandError("--mode must be train or infer, got \(mode)") }
            let r = try DetectionBenchmark(mode: which, minSize: minSize, rounds: rounds, precision: precision.dataType).run(weights: weights, inputs: inputs)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(r), as: UTF8.self))
                return
            }
            print(String(format: "fasterrcnn_resnet50_fpn %@ %@, %d image(s), shorter side %d, %d threads: %.2f img/s (median %.3f s), peak RSS %.0f MB",
                         r.mode, precision.rawValue, r.images, r.minSize, Threads.count, r.imagesPerSecond, r.medianSeconds, r.peakResidentMB))
            for (name, share) in r.shares.sorted(by: { $0.key < $1.key }) { print(String(format: "  %@: %.1f%% of the time", name, 100 * share)) }
        }
    }
}
