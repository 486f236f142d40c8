import Diagnostics
import Data
import Foundation
import Models
import NN
import Optim
import Tensors
import Train
import XCTest

/// Training on Fashion-MNIST subsets: accuracy, exact resume, checkpoints, bad input.
final class TrainerTests: XCTestCase {
    var folders: [String] = []

    override func tearDown() {
        for folder in folders { try? FileManager.default.removeItem(atPath: folder) }
    }

    func config(_ name: String = #function, perClass: Int = 20, epochs: Int = 2) throws -> TrainConfig {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var c = TrainConfig()
        c.model = "cifar_resnet20"
        c.trainPerClass = perClass
        c.valPerClass = 10
        c.batchSize = 32
        c.epochs = epochs
        c.threads = 2
        c.logEvery = 1000
        c.output = NSTemporaryDirectory() + "bagoftricks-\(name.filter(\.isLetter))-\(UUID().uuidString)"
        folders.append(c.output)
        return c
    }

    func quiet(_ trainer: Trainer) -> Trainer {
        trainer.log = { _ in }
        return trainer
    }

    func weights(_ model: Module) throws -> [String: SafeTensors.Entry] {
        Dictionary(uniqueKeysWithValues: try model.stateDict())
    }

    /// A short budget on 3000 images reaches well above chance (10%).
    func testShortRunLearnsFashionMNIST() throws {
        var c = try config(perClass: 300, epochs: 3)
        c.valPerClass = 100
        c.logEvery = 10
        let state = try quiet(Trainer(config: c)).run()
        XCTAssertEqual(state.history.count, 3)
        XCTAssertGreaterThan(state.history.last!.top1, 70, "top-1 after 3 epochs on 3000 images")
        XCTAssertLessThan(state.history.last!.trainLoss, state.history.first!.trainLoss)
        for file in ["last.safetensors", "best.safetensors", "last.state.safetensors", "metrics.jsonl", "curves.svg", "config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: c.output + "/" + file), file)
        }
        let lines = try String(contentsOfFile: c.output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        // Each epoch's record keeps its validation pass's seconds; records written before that
        // field existed (a run resumed across versions) still read, without it.
        for line in lines {
            let record = try JSONDecoder().decode(EpochResult<ClassificationMetrics>.self, from: Foundation.Data(line.utf8))
            XCTAssertGreaterThan(try XCTUnwrap(record.validationSeconds, String(line)), 0)
        }
        var old = try XCTUnwrap(JSONSerialization.jsonObject(with: Foundation.Data(lines[0].utf8)) as? [String: Any])
        old["validationSeconds"] = nil
        let older = try JSONDecoder().decode(EpochResult<ClassificationMetrics>.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertNil(older.validationSeconds)
        XCTAssertEqual(older.top1, state.history[0].top1)
        let steps = try String(contentsOfFile: c.output + "/steps.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(steps.count, 3 * (3000 / 32) / 10, "a line every 10 steps")
        XCTAssertTrue(try String(contentsOfFile: c.output + "/curves.svg", encoding: .utf8).contains("<polyline"))
    }

    /// A plug-in's per-image augmentation joins the training pipeline, before normalisation,
    /// and not the validation one.
    func testAugmentationPluginsJoinTheTrainingPipeline() throws {
        var c = try config(perClass: 5, epochs: 1)
        c[AutoAugment.randAugment] = "m5-n1"
        let trainer = quiet(try Trainer(config: c))
        let steps = try XCTUnwrap(trainer.trainLoader.transform as? Compose).steps
        let index = try XCTUnwrap(steps.firstIndex { $0 is RandAugment }, "RandAugment in \(steps)")
        XCTAssertTrue(steps[(index + 1)...].contains { $0 is Normalize } && !steps[..<index].contains { $0 is Normalize })
        XCTAssertEqual((steps[index] as? RandAugment)?.magnitude, 5)
        XCTAssertFalse(try XCTUnwrap(trainer.validationLoader.transform as? Compose).steps.contains { $0 is RandAugment })
    }

    /// 2 epochs straight equal 1.5 epochs, a stop, and a resume, weight for weight: the data
    /// order and augmentation are seeded per (epoch, sample), the LR is a function of the
    /// iteration, and the momentum buffers and BN statistics are in the checkpoint. With a fixed
    /// thread count oneDNN's kernels are deterministic, so equality is bitwise.
    ///
    /// The logs follow the checkpoint: a process killed without Ctrl-C (a reboot) has logged
    /// steps past its last checkpoint, and one killed right after the checkpoint's rename lacks
    /// that epoch's metrics line; the resumed run's logs hold each epoch and step once.
    func testResumeIsExact() throws {
        let straight = try config()
        let uninterrupted = quiet(try Trainer(config: straight))
        _ = try uninterrupted.run()

        var c = try config()
        c.logEvery = 2
        let first = quiet(try Trainer(config: c))
        let steps = first.trainLoader.batchCount
        first.afterStep = { state in if state.iteration == steps + steps / 2 { Trainer.requestStop() } }
        let stopped = try first.run()
        XCTAssertEqual(stopped.epoch, 1)
        XCTAssertEqual(stopped.batch, steps / 2)
        let (metricsPath, stepsPath) = (first.config.output + "/metrics.jsonl", first.config.output + "/steps.jsonl")
        XCTAssertEqual(try String(contentsOfFile: metricsPath, encoding: .utf8).split(separator: "\n").count, 1)
        try "".write(toFile: metricsPath, atomically: true, encoding: .utf8)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: stepsPath))
        handle.seekToEndOfFile()
        handle.write(Foundation.Data("{\"epoch\":2,\"iteration\":\(steps + steps / 2 + 2),\"loss\":9,\"lr\":0.1}\n".utf8))
        try handle.close()

        c.output = first.config.output
        let resumed = quiet(try Trainer(config: c, resume: true))
        let final = try resumed.run()
        XCTAssertEqual(final.iteration, 2 * steps)
        XCTAssertEqual(try weights(resumed.model), try weights(uninterrupted.model), "weights, running statistics and counters")
        XCTAssertEqual(try resumed.optimizer.buffers, try uninterrupted.optimizer.buffers)
        XCTAssertEqual(final.history.last?.top1, uninterrupted.state.history.last?.top1)

        let records = try String(contentsOfFile: metricsPath, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(EpochResult<ClassificationMetrics>.self, from: Foundation.Data($0.utf8))
        }
        XCTAssertEqual(records.map(\.epoch), [1, 2])
        XCTAssertEqual(records, final.history)
        let lines = try String(contentsOfFile: stepsPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.map { StepPoint(line: $0)?.iteration }, Array(stride(from: 2, through: 2 * steps, by: 2)), "each step once, in order")
    }

    /// Checkpoints keep one format: a run stopped on `cuda` (its host emulation here) resumes on
    /// the CPU with the weights, running statistics and momentum the GPU left.
    func testARunStoppedOnCUDAResumesOnTheCPU() throws {
        CUDAHostEmulation.register()
        setenv("TRICKS_CUDA_EMULATION", "1", 1)
        var c = try config()
        c.device = .cuda
        let first = quiet(try Trainer(config: c))
        XCTAssertEqual(first.model.namedParameters().first?.1.device, .cuda)
        let steps = first.trainLoader.batchCount
        first.afterStep = { state in if state.iteration == steps + steps / 2 { Trainer.requestStop() } }
        _ = try first.run()
        let onGPU = try weights(first.model), momentum = try first.optimizer.buffers
        c.output = first.config.output
        c.device = .cpu
        let resumed = quiet(try Trainer(config: c, resume: true))
        XCTAssertEqual(resumed.model.namedParameters().first?.1.device, .cpu)
        XCTAssertEqual(try weights(resumed.model), onGPU)
        XCTAssertEqual(try resumed.optimizer.buffers, momentum)
        let final = try resumed.run()
        XCTAssertEqual(final.iteration, 2 * steps)
        XCTAssertTrue(final.history.last?.valLoss.isFinite ?? false)
    }

    func testCheckpointRoundTrip() throws {
        let c = try config(epochs: 1)
        let trainer = quiet(try Trainer(config: c))
        let state = try trainer.run()
        let (model, info) = try Checkpoint.loadModel(trainer.lastCheckpoint)
        XCTAssertEqual(try weights(model), try weights(trainer.model))
        XCTAssertEqual(info, trainer.info)
        XCTAssertEqual(info.classes, FashionMNIST.classes)
        let (loaded, momentum, masters, _) = try Checkpoint.loadState(trainer.lastCheckpoint)
        XCTAssertTrue(masters.isEmpty, "no master weights in FP32")
        XCTAssertEqual(loaded, state)
        XCTAssertEqual(momentum, try trainer.optimizer.buffers)
    }

    func testNaNLossStopsAndKeepsTheLastGoodCheckpoint() throws {
        var c = try config(epochs: 1)
        let good = quiet(try Trainer(config: c))
        _ = try good.run()
        let saved = try weights(Checkpoint.loadModel(good.lastCheckpoint).0)
        c.epochs = 2
        c.learningRate = .absolute(1e30)
        let diverging = quiet(try Trainer(config: c, resume: true))
        XCTAssertThrowsError(try diverging.run()) { error in
            XCTAssertTrue("\(error)".contains("step") && "\(error)".contains("loss is"), "\(error)")
        }
        XCTAssertEqual(try weights(Checkpoint.loadModel(good.lastCheckpoint).0), saved)
    }

    func testBadInputGetsClearErrors() throws {
        var c = try config()
        c.model = "resnet51"
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("unknown model 'resnet51'"), "\($0)") }
        c = try config()
        c.data.path = "/no/such/folder"
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("/no/such/folder"), "\($0)") }
        c = try config()
        c.batchSize = 1000
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("--batch-size"), "\($0)") }
        c = try config()
        c.learningRate = .absolute(-1)
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("--lr"), "\($0)") }

        // Resuming a run of another model is refused.
        c = try config(epochs: 1)
        _ = try quiet(Trainer(config: c)).run()
        c.model = "cifar_resnet32"
        XCTAssertThrowsError(try Trainer(config: c, resume: true)) {
            XCTAssertTrue("\($0)".contains("cifar_resnet20") && "\($0)".contains("not cifar_resnet32"), "\($0)")
        }
        c.model = "cifar_resnet20"
        c.output += "-missing"
        XCTAssertThrowsError(try Trainer(config: c, resume: true)) { XCTAssertTrue("\($0)".contains("no checkpoint"), "\($0)") }
    }

    /// A process killed (SIGKILL) while training leaves a checkpoint that still loads: files
    /// are replaced by rename, never written in place.
    func testCheckpointSurvivesSIGKILL() throws {
        let c = try config(perClass: 100, epochs: 50)
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tricks").path
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), "build the tricks executable first: \(binary)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["train", "--model", "cifar_resnet20", "--train-per-class", "100", "--val-per-class", "10", "-b", "32",
                             "--epochs", "50", "--output", c.output, "--threads", "2"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let checkpoint = c.output + "/last.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline { usleep(50_000) }
        // Kill it at some point during the following epochs, possibly mid-write.
        usleep(UInt32.random(in: 300_000...1_500_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        let (model, info) = try Checkpoint.loadModel(checkpoint)
        XCTAssertEqual(info.model, "cifar_resnet20")
        XCTAssertGreaterThan(model.parameterCount, 0)
        XCTAssertNoThrow(try Checkpoint.loadState(checkpoint))
    }
}

/// Transfer learning: weights from a Fashion-MNIST run, a new 3-class head, a frozen first epoch.
final class FinetuneTests: XCTestCase {
    func testFinetuneReplacesTheHeadAndFreezesTheBackbone() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        let root = NSTemporaryDirectory() + "bagoftricks-finetune-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var source = TrainConfig()
        source.trainPerClass = 20
        source.valPerClass = 5
        source.batchSize = 32
        source.epochs = 1
        source.output = root + "/source"
        let pretrained = try Trainer(config: source)
        pretrained.log = { _ in }
        _ = try pretrained.run()

        // A 3-class image folder of Fashion-MNIST PNGs.
        let test = try FashionMNIST.load(train: false)
        var written = [0, 0, 0]
        for i in 0..<test.count where [0, 1, 7].contains(test.label(at: i)) {
            let k = [0, 1, 7].firstIndex(of: test.label(at: i))!
            guard written[k] < 30 else { continue }
            let folder = "\(root)/data/\(["shirts", "trousers", "sneakers"][k])"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: "\(folder)/\(i).png", contents: Data(try ImageCodec.encodePNG(test.image(at: i))))
            written[k] += 1
        }
        var c = TrainConfig()
        c.data = DataSource(path: root + "/data", validationSplit: 0.2, channels: 1)
        c.batchSize = 16
        c.epochs = 2
        c.finetuneFrom = pretrained.lastCheckpoint
        c.freezeEpochs = 1
        c.output = root + "/finetuned"
        let trainer = try Trainer(config: c)
        trainer.log = { _ in }
        let original = try Checkpoint.loadModel(pretrained.lastCheckpoint).0.stateDict().first { $0.0 == "layer2.0.conv1.weight" }!.1
        var frozenChecked = false
        trainer.afterStep = { state in
            guard state.epoch == 0 else { return }
            let now = try! trainer.model.stateDict().first { $0.0 == "layer2.0.conv1.weight" }!.1
            XCTAssertEqual(now, original, "backbone frozen in epoch 1")
            frozenChecked = true
        }
        let state = try trainer.run()
        XCTAssertTrue(frozenChecked)
        XCTAssertEqual(state.epoch, 2)
        let params = Dictionary(uniqueKeysWithValues: trainer.model.namedParameters())
        XCTAssertEqual(params["fc.weight"]?.shape, [3, 64])
        XCTAssertNotEqual(try trainer.model.stateDict().first { $0.0 == "layer2.0.conv1.weight" }!.1, original, "unfrozen in epoch 2")
        XCTAssertEqual(trainer.info.classes, ["shirts", "sneakers", "trousers"])
    }
}
