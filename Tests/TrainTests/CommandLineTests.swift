import Data
import Foundation
import NN
import Train
import XCTest

/// `tricks` as a user runs it: the built binary, its messages and exit status.
final class CommandLineTests: XCTestCase {
    var tricks: String { TricksProcess.binary }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try TricksProcess.run(arguments, environment: environment)
    }

    /// Negative numbers are values, refused for the real reason (issue 14, item 7).
    func testNegativeNumbersParseAndAreRefusedWithTheReason() throws {
        for (arguments, message) in [(["--lr", "-1"], "--lr: must be positive, got -1"),
                                     (["--epochs", "-2"], "--epochs: must be at least 1, got -2"),
                                     (["--mixup", "-1"], "--mixup: alpha must be non-negative, got -1")] {
            let (status, output) = try run(["train"] + arguments)
            XCTAssertNotEqual(status, 0, "\(arguments)")
            XCTAssertTrue(output.contains(message), "\(arguments): \(output)")
        }
    }

    /// Item 8: settings that used to be accepted without a word are refused, naming the flag.
    func testContradictorySettingsAreRefused() throws {
        for (arguments, message) in [(["--mean", "1,2"], "--mean: needs --std too"),
                                     (["--lr-steps", "0,1"], "--lr-steps: epoch 0.0 is not after the start"),
                                     (["--mean", "1,2", "--std", "3,4"], "--mean/--std: got 2 and 2 value(s) for 1-channel images: give 1 each")] {
            let (status, output) = try run(["train", "--train-per-class", "2", "--val-per-class", "1", "--output",
                                            TricksProcess.scratch("refused")] + arguments)
            XCTAssertNotEqual(status, 0, "\(arguments)")
            XCTAssertTrue(output.contains(message), "\(arguments): \(output)")
        }
        // A step past the end is legal (a run to be resumed with more epochs) but said.
        let output = TricksProcess.scratch("steps")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (status, text) = try run(["train", "--model", "lenet5", "--train-per-class", "2", "--val-per-class", "1", "--epochs", "1",
                                      "--batch-size", "10", "--lr-steps", "5", "--output", output])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("warning: --lr-steps: epoch 5.0 is not before the end of this run's 1 epoch(s)"), text)
        // finetune: the model comes from the checkpoint; the frozen epochs must fit in the run.
        let finetuned = output + "-finetuned"
        defer { try? FileManager.default.removeItem(atPath: finetuned) }
        for (arguments, message) in [(["--model", "resnet50"], "holds lenet5, not resnet50; drop --model"),
                                     (["--freeze-epochs", "3", "--epochs", "1"], "--freeze-epochs: must be between 0 and --epochs (1), got 3")] {
            let (status, text) = try run(["finetune", "--from", output + "/last.safetensors", "--train-per-class", "2", "--val-per-class", "1",
                                          "--output", finetuned] + arguments)
            XCTAssertNotEqual(status, 0, "\(arguments)")
            XCTAssertTrue(text.contains(message), "\(arguments): \(text)")
        }
    }

    /// `--help` gives the defaults (item 6) and the plug-in tricks' flags.
    func testHelpShowsDefaultsAndThePluginFlags() throws {
        let (status, output) = try run(["train", "--help"])
        XCTAssertEqual(status, 0)
        let defaults = TrainConfig()
        for text in ["Images per step (default: \(defaults.batchSize))", "(default: \(defaults.epochs))", "(default: \(TrainConfig.defaultLR);",
                     "--smoothing <value>", "--mixup <value>", "--cutmix <value>", "--teacher <value>", "--ema-decay <value>", "--reprob <value>", "--randaugment <value>", "--trivialaugment <value>"] {
            XCTAssertTrue(output.contains(text), "--help lacks \(text)")
        }
        let (unknown, message) = try run(["train", "--smoothng", "0.1"])
        XCTAssertNotEqual(unknown, 0)
        XCTAssertTrue(message.contains("unknown option '--smoothng'"), message)
    }

    /// Item 12's small ones: an unknown model filter is an error, and there is a `--version`.
    func testModelsFilterWithoutAMatchFailsAndVersionAnswers() throws {
        let (status, output) = try run(["models", "resnet51"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("no model name contains 'resnet51'"), output)
        XCTAssertEqual(try run(["models", "resnet50d"]).status, 0)
        let recipe = try run(["train", "--recipe", "fancy"])
        XCTAssertNotEqual(recipe.status, 0)
        XCTAssertTrue(recipe.output.contains("The value 'fancy' is invalid for '--recipe <recipe>'. Please provide one of 'baseline', 'efficient', 'tweaked', 'full' or 'strong'"), recipe.output)
        XCTAssertFalse(recipe.output.contains("Usage: tricks <subcommand>"), "no top-level usage for a mistake in a value: \(recipe.output)")
        let version = try run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertTrue(version.output.hasPrefix("tricks "), version.output)
    }

    /// A CPU without AVX-512 BF16 (oneDNN capped below it, as on the project's AVX2 machines)
    /// trains `--precision bf16` by the emulation and says so in one line; `fp16` is emulated
    /// everywhere and says what it costs (issue 15).
    func testLowPrecisionSaysWhichPathRuns() throws {
        try TricksProcess.requireFashionMNIST()
        let output = TricksProcess.scratch("precision")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let tiny = ["train", "--train-per-class", "10", "--val-per-class", "5", "--epochs", "1", "--batch-size", "20", "--output", output]
        for (isa, precision, expected) in [("AVX2", "bf16", "so bf16 is emulated"), ("AVX512_CORE", "bf16", "so bf16 is emulated"),
                                           ("ALL", "fp16", "so it is emulated")] {
            try? FileManager.default.removeItem(atPath: output)
            let (status, text) = try run(tiny + ["--precision", precision], environment: ["DNNL_MAX_CPU_ISA": isa])
            XCTAssertEqual(status, 0, "\(isa) \(precision): \(text)")
            XCTAssertEqual(text.components(separatedBy: expected).count - 1, 1, "\(isa) \(precision): one line says \(expected): \(text)")
            XCTAssertTrue(text.contains("final: top-1"), text)
        }
    }

    /// Issue 14, items 1 and 2: `--output DIR --resume` continues a run of a non-default model
    /// with its own settings (flags may change only what is safe); a second run into a folder
    /// that holds one is refused unless `--overwrite`; Ctrl-C exits with 130.
    func testResumeTakesTheRunsSettingsAndOutputFoldersAreNotOverwritten() throws {
        try TricksProcess.requireFashionMNIST()
        let output = TricksProcess.scratch("resume")
        defer { try? FileManager.default.removeItem(atPath: output) }
        func epochs() throws -> Int {
            try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count
        }
        let first = try run(["train", "--model", "lenet5", "--lr", "0.02", "--train-per-class", "10", "--val-per-class", "5", "--epochs", "1",
                             "--batch-size", "20", "--output", output])
        XCTAssertEqual(first.status, 0, first.output)

        let again = try run(["train", "--model", "lenet5", "--epochs", "1", "--output", output])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.output.contains("already holds a run") && again.output.contains("--overwrite"), again.output)
        XCTAssertEqual(try epochs(), 1, "the refused run wrote nothing")

        let resumed = try run(["train", "--output", output, "--resume", "--epochs", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from"), resumed.output)
        XCTAssertEqual(try epochs(), 2)
        let lines = try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(lines[0].contains(#""epoch":1,"#) && lines[1].contains(#""epoch":2,"#), "epochs counted from 1, as steps.jsonl: \(lines)")
        XCTAssertTrue(first.output.contains("settings: lenet5 on fashion-mnist, 1 epoch,") && !first.output.contains("\"batchSize\""),
                      "one summary line, not the whole config: \(first.output)")

        let changed = try run(["train", "--output", output, "--resume", "--epochs", "3", "--lr", "0.1"])
        XCTAssertNotEqual(changed.status, 0)
        XCTAssertTrue(changed.output.contains("lr 0.02 -> 0.1"), changed.output)

        let overwritten = try run(["train", "--model", "lenet5", "--train-per-class", "10", "--val-per-class", "5", "--epochs", "1",
                                   "--batch-size", "20", "--output", output, "--overwrite"])
        XCTAssertEqual(overwritten.status, 0, overwritten.output)
        XCTAssertEqual(try epochs(), 1, "--overwrite starts the logs again")
    }

    func testCtrlCWritesACheckpointAndExits130() throws {
        try assertCtrlCWritesACheckpoint("sigint", stdout: FileHandle.nullDevice)
    }

    /// `tricks train | tee log` and Ctrl-C: tee stops at once, and the run, which prints a line
    /// every step here, must still write its checkpoint and exit 130, not die of SIGPIPE.
    func testCtrlCWithItsLogReaderGoneStillWritesTheCheckpoint() throws {
        let pipe = Pipe()
        try assertCtrlCWritesACheckpoint("sigpipe", stdout: pipe) {
            try pipe.fileHandleForReading.close()
            Thread.sleep(forTimeInterval: 0.5)   // a few steps' lines into the closed pipe
        }
    }

    /// Starts a training run with stdout and stderr to `stdout`, runs `onceTraining` once it has
    /// begun (the first step's line in steps.jsonl), interrupts it, and checks that it exits 130
    /// with the interrupted step's checkpoint written.
    func assertCtrlCWritesACheckpoint(_ name: String, stdout: Any, onceTraining: () throws -> Void = {}) throws {
        try TricksProcess.requireFashionMNIST()
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: tricks), "the tricks binary is not built beside the tests")
        let output = TricksProcess.scratch(name)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tricks)
        process.arguments = ["train", "--model", "lenet5", "--train-per-class", "500", "--val-per-class", "5", "--epochs", "5",
                             "--batch-size", "10", "--log-every", "1", "--output", output]
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: output + "/steps.jsonl") && process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try onceTraining()
        process.interrupt()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, "killed by signal \(process.terminationStatus)")
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output + "/last.safetensors"), "the checkpoint of the interrupted step")
    }

    /// Item 11: `tricks stats` on a folder counts every image (no validation hold-out), and
    /// `--val-split 0` means the same.
    func testStatsCountsEveryImageOfAFolder() throws {
        let folder = TricksProcess.scratch("stats")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for index in 0..<20 {
            let path = "\(folder)/class\(index % 2)/\(index).png"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let image = Image(width: 4, height: 4, channels: 3, bytes: (0..<48).map { UInt8(($0 * 5 + index) % 256) })
            FileManager.default.createFile(atPath: path, contents: Foundation.Data(try ImageCodec.encodePNG(image)))
        }
        for extra in [[], ["--val-split", "0"]] {
            let (status, output) = try run(["stats", "--data", folder] + extra)
            XCTAssertEqual(status, 0, output)
            XCTAssertTrue(output.contains("20 images"), "\(extra): \(output)")
        }
        XCTAssertTrue(try run(["stats", "--data", folder, "--val-split", "0.5"]).output.contains("10 images"))
    }

    /// Item 10: `tricks ablate --help` lists the rows that --rows picks from, and a 1-epoch
    /// ablation's plot shows its points.
    func testAblateHelpListsRowsAndOneEpochPlotsShowPoints() throws {
        let (status, help) = try run(["ablate", "--help"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(help.contains("USAGE: tricks ablate"), help)
        for (i, row) in Ablation.rows.enumerated() { XCTAssertTrue(help.contains("\(i + 1). \(row.name)"), "row \(row.name) in: \(help)") }
        let record = #"{"epoch": 0, "trainLoss": 1, "valLoss": 1, "top1": 80, "top5": 99, "lr": 0.1, "seconds": 1, "imagesPerSecond": 1}"#
        let results = try (1...2).map { row in
            let json = #"{"row": \#(row), "name": "row", "seed": 0, "top1": 80, "top5": 99, "secondsPerEpoch": 1, "history": [\#(record)], "config": {}}"#
            return try JSONDecoder().decode(Ablation.Result.self, from: Foundation.Data(json.utf8))
        }
        XCTAssertEqual(Ablation.curvesSVG(results).components(separatedBy: "<circle").count - 1, 2, "one marker per row and epoch")
    }

    /// Items 4, 5 and 9: `eval` defaults to the checkpoint's own data and reads an RGB folder for
    /// a grey model; `predict` takes folders, reports each bad file, predicts the rest, exits 1,
    /// and writes --topk predictions as JSON and CSV.
    func testEvalAndPredictAsANewUserTriesThem() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("predict")
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Ten RGB class folders, two images each; a grey model is trained on them.
        for label in 0..<10 {
            for copy in 0..<2 {
                let path = "\(root)/rgb/class\(label)/\(copy).png"
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let image = Image(width: 28, height: 28, channels: 3, bytes: (0..<(28 * 28 * 3)).map { UInt8(($0 * 7 + label * 31 + copy) % 256) })
                FileManager.default.createFile(atPath: path, contents: Foundation.Data(try ImageCodec.encodePNG(image)))
            }
        }
        let trained = try run(["train", "--model", "lenet5", "--data", root + "/rgb", "--val-split", "0.5", "--channels", "1",
                               "--epochs", "1", "--batch-size", "5", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let checkpoint = root + "/run/last.safetensors"

        let recorded = try run(["eval", "--checkpoint", checkpoint])
        XCTAssertEqual(recorded.status, 0, recorded.output)
        XCTAssertTrue(recorded.output.contains("lenet5 on \(root)/rgb (10 images)"), "the checkpoint's own data: \(recorded.output)")
        let folder = try run(["eval", "--checkpoint", checkpoint, "--data", root + "/rgb", "--val-split", "0.5"])
        XCTAssertEqual(folder.status, 0, "RGB files read as grey for a grey model: \(folder.output)")
        XCTAssertFalse(folder.output.contains("skipped normalize"), folder.output)

        FileManager.default.createFile(atPath: root + "/rgb/class3/broken.png", contents: Foundation.Data("not an image".utf8))
        let (status, output) = try run(["predict", "--checkpoint", checkpoint, "--topk", "2", "--json", root + "/p.json",
                                        "--csv", root + "/p.csv", root + "/rgb", root + "/missing.jpg"])
        XCTAssertEqual(status, 1, "some files failed: \(output)")
        XCTAssertTrue(output.contains("skipped \(root)/rgb/class3/broken.png: ") && output.contains("skipped \(root)/missing.jpg: "), output)
        XCTAssertTrue(output.contains("2 of 22 image(s) could not be predicted"), output)
        let report = try JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: URL(fileURLWithPath: root + "/p.json"))) as! [String: Any]
        let predictions = report["predictions"] as! [[String: Any]]
        XCTAssertEqual(predictions.count, 20)
        XCTAssertEqual((predictions[0]["classes"] as! [String]).count, 2, "--topk 2")
        XCTAssertEqual((report["failures"] as! [Any]).count, 2)
        let csv = try String(contentsOfFile: root + "/p.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 1 + 20 * 2, "a header and a row per image and rank")
    }

    /// Item 3: an unreadable image in a folder is skipped and reported by the statistics pass
    /// (mean/std from the data) as by the loader, not the end of the run.
    func testAnUnreadableImageDoesNotStopTheStatistics() throws {
        let root = TricksProcess.scratch("broken")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for label in 0..<2 {
            for copy in 0..<4 {
                let path = "\(root)/class\(label)/\(copy).png"
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let image = Image(width: 28, height: 28, channels: 1, bytes: (0..<(28 * 28)).map { UInt8(($0 + label * 90 + copy) % 256) })
                FileManager.default.createFile(atPath: path, contents: Foundation.Data(try ImageCodec.encodePNG(image)))
            }
        }
        FileManager.default.createFile(atPath: root + "/class1/broken.jpg", contents: Foundation.Data("not an image".utf8))
        let (status, output) = try run(["train", "--model", "lenet5", "--data", root, "--val-split", "0.25", "--channels", "1",
                                        "--epochs", "1", "--batch-size", "2", "--output", root + "/run"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("skipped") && output.contains("broken.jpg"), output)
        let stats = try run(["stats", "--data", root, "--channels", "1"])
        XCTAssertEqual(stats.status, 0, stats.output)
        XCTAssertTrue(stats.output.contains("broken.jpg") && stats.output.contains("mean: "), stats.output)
    }

    /// Item 15: a state dict written elsewhere (no BagOfTricks metadata, no num_batches_tracked,
    /// as `safetensors.torch.save_file(model.state_dict())` of torchvision's weights) works in
    /// eval, predict and finetune given --model (and --classes for the names).
    func testForeignWeightsWorkWithModel() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("foreign")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trained = try run(["train", "--model", "lenet5", "--train-per-class", "10", "--val-per-class", "2", "--epochs", "1",
                               "--batch-size", "20", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let entries = try SafeTensors.read(root + "/run/last.safetensors").entries.filter { !$0.key.hasSuffix("num_batches_tracked") }
        let foreign = root + "/foreign.safetensors"
        try SafeTensors.write(entries.sorted { $0.key < $1.key }, metadata: [:], to: foreign)

        let bare = try run(["eval", "--checkpoint", foreign])
        XCTAssertNotEqual(bare.status, 0)
        XCTAssertTrue(bare.output.contains("give --model NAME"), bare.output)
        let evaluated = try run(["eval", "--checkpoint", foreign, "--model", "lenet5"])
        XCTAssertEqual(evaluated.status, 0, evaluated.output)
        XCTAssertTrue(evaluated.output.contains("lenet5 on fashion-mnist (10000 images)"), evaluated.output)

        let names = (0..<10).map { "garment\($0)" }
        FileManager.default.createFile(atPath: root + "/classes.txt", contents: Foundation.Data(names.joined(separator: "\n").utf8))
        let image = Image(width: 28, height: 28, channels: 1, bytes: (0..<784).map { UInt8($0 % 256) })
        FileManager.default.createFile(atPath: root + "/shoe.png", contents: Foundation.Data(try ImageCodec.encodePNG(image)))
        let predicted = try run(["predict", "--checkpoint", foreign, "--model", "lenet5", "--classes", root + "/classes.txt", root + "/shoe.png"])
        XCTAssertEqual(predicted.status, 0, predicted.output)
        XCTAssertTrue(predicted.output.contains("%  garment"), predicted.output)
        let wrongCount = try run(["predict", "--checkpoint", foreign, "--model", "lenet5", "--classes", root + "/shoe.png", root + "/shoe.png"])
        XCTAssertNotEqual(wrongCount.status, 0)

        let finetuned = try run(["finetune", "--from", foreign, "--model", "lenet5", "--train-per-class", "5", "--val-per-class", "2",
                                 "--epochs", "1", "--batch-size", "10", "--output", root + "/finetuned"])
        XCTAssertEqual(finetuned.status, 0, finetuned.output)
    }

    /// `tricks segment train|eval|predict` as a user runs them (issue 13).
    func testSegmentTrainEvalAndPredict() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("segment")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trained = try run(["segment", "train", "--train-scenes", "16", "--val-scenes", "8", "--base-size", "48", "--crop-size", "40",
                               "-b", "8", "--epochs", "1", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains("final: mIoU"), trained.output)
        let again = try run(["segment", "train", "--train-scenes", "16", "--output", root + "/run"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.output.contains("already holds a run"), again.output)

        let evaluated = try run(["segment", "eval", "--checkpoint", root + "/run/best.safetensors", "--val-scenes", "8"])
        XCTAssertEqual(evaluated.status, 0, evaluated.output)
        XCTAssertTrue(evaluated.output.contains("fcn_cifar_resnet20 on scenes (8 images): pixel accuracy") && evaluated.output.contains("| Ankle boot |"),
                      evaluated.output)

        let image = Image(width: 60, height: 50, channels: 1, bytes: (0..<3000).map { UInt8($0 % 200) })
        FileManager.default.createFile(atPath: root + "/scene.png", contents: Foundation.Data(try ImageCodec.encodePNG(image)))
        let predicted = try run(["segment", "predict", "--checkpoint", root + "/run/best.safetensors", "--output-dir", root + "/out", root + "/scene.png"])
        XCTAssertEqual(predicted.status, 0, predicted.output)
        let mask = try ImageCodec.decodeMask(Array(try Foundation.Data(contentsOf: URL(fileURLWithPath: root + "/out/scene.mask.png"))), path: "mask")
        XCTAssertEqual([mask.width, mask.height], [60, 50], "the mask has the image's size")
        XCTAssertTrue(mask.labels.allSatisfy { $0 < 11 })
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/out/scene.overlay.png"))

        let classifier = try run(["train", "--model", "lenet5", "--train-per-class", "2", "--val-per-class", "1", "--epochs", "1",
                                  "--batch-size", "10", "--output", root + "/classifier"])
        XCTAssertEqual(classifier.status, 0, classifier.output)
        let refused = try run(["segment", "eval", "--checkpoint", root + "/classifier/last.safetensors"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains("is a classification checkpoint (lenet5, written by `tricks train`)"), refused.output)
    }

    /// `tricks detect train|eval|predict` as a user runs them (issue 29): JSON lines and an overlay PNG.
    func testDetectTrainEvalAndPredict() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("detect")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trained = try run(["detect", "train", "--train-scenes", "8", "--val-scenes", "4", "--scene-size", "64", "--min-size", "64", "--max-size", "64",
                               "-b", "4", "--epochs", "1", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains("final: VOC07 mAP"), trained.output)
        let evaluated = try run(["detect", "eval", "--checkpoint", root + "/run/last.safetensors"])
        XCTAssertEqual(evaluated.status, 0, evaluated.output)
        XCTAssertTrue(evaluated.output.contains("fasterrcnn_cifar_resnet20_fpn on scenes (4 images): VOC07 mAP"), evaluated.output)

        let image = Image(width: 70, height: 50, channels: 1, bytes: (0..<3500).map { UInt8($0 % 200) })
        FileManager.default.createFile(atPath: root + "/scene.png", contents: Foundation.Data(try ImageCodec.encodePNG(image)))
        let predicted = try run(["detect", "predict", "--checkpoint", root + "/run/last.safetensors", "--min-score", "0",
                                 "--output-dir", root + "/out", root + "/scene.png"])
        XCTAssertEqual(predicted.status, 0, predicted.output)
        let lines = try String(contentsOfFile: root + "/out/detections.jsonl", encoding: .utf8).split(separator: "\n")
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Foundation.Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(Set(object.keys), ["file", "label", "score", "x1", "y1", "x2", "y2"])
            XCTAssertTrue(FashionMNIST.classes.contains(object["label"] as? String ?? ""), String(line))
        }
        let overlay = try ImageCodec.decode(Array(try Foundation.Data(contentsOf: URL(fileURLWithPath: root + "/out/scene.overlay.png"))), path: "overlay", channels: 3)
        XCTAssertEqual([overlay.width, overlay.height], [70, 50], "the overlay has the image's size")

        let refused = try run(["detect", "eval", "--checkpoint", root + "/scene.png"])
        XCTAssertNotEqual(refused.status, 0)
        let wrongCommand = try run(["eval", "--checkpoint", root + "/run/last.safetensors"])
        XCTAssertNotEqual(wrongCommand.status, 0)
        XCTAssertTrue(wrongCommand.output.contains("is a detection checkpoint (fasterrcnn_cifar_resnet20_fpn, written by `tricks detect train`)"),
                      wrongCommand.output)
    }

    /// `tricks export` (issue 14, item 16): an ONNX file and a sample to check it with; an
    /// input size the model cannot take is refused naming the flag. (The file against
    /// onnxruntime: scripts/check_onnx_export.py.)
    func testExportWritesONNXAndASample() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("export")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trained = try run(["train", "--model", "lenet5", "--train-per-class", "10", "--val-per-class", "2", "--epochs", "1",
                               "--batch-size", "20", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let exported = try run(["export", "--checkpoint", root + "/run/best.safetensors", "--onnx", root + "/lenet5.onnx",
                                "--sample", root + "/sample.safetensors", "--sample-batch", "3"])
        XCTAssertEqual(exported.status, 0, exported.output)
        XCTAssertTrue(exported.output.contains("lenet5, input [batch, 1, 28, 28], output [batch, 10]"), exported.output)
        XCTAssertGreaterThan((try FileManager.default.attributesOfItem(atPath: root + "/lenet5.onnx")[.size] as? Int) ?? 0, 100_000)
        let sample = try SafeTensors.read(root + "/sample.safetensors").entries
        XCTAssertEqual(sample["input"]?.shape, [3, 1, 28, 28])
        XCTAssertEqual(sample["logits"]?.shape, [3, 10])

        let tooSmall = try run(["export", "--checkpoint", root + "/run/best.safetensors", "--onnx", root + "/small.onnx", "--input-size", "4"])
        XCTAssertNotEqual(tooSmall.status, 0)
        XCTAssertTrue(tooSmall.output.contains("does not run at input [2, 1, 4, 4]") && tooSmall.output.contains("--input-size"), tooSmall.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/small.onnx"))
        let missing = try run(["export", "--checkpoint", root + "/none.safetensors", "--onnx", root + "/none.onnx"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("none.safetensors"), missing.output)
    }

    /// The strong recipe (RandAugment, random erasing, CutMix) trains end to end, and
    /// TrivialAugment too; a bad policy is refused naming the flag.
    func testStrongRecipeAndTrivialAugmentTrain() throws {
        try TricksProcess.requireFashionMNIST()
        let output = TricksProcess.scratch("strong")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let tiny = ["train", "--model", "lenet5", "--train-per-class", "10", "--val-per-class", "2", "--epochs", "2", "--batch-size", "20"]
        let strong = try run(tiny + ["--recipe", "strong", "--output", output])
        XCTAssertEqual(strong.status, 0, strong.output)
        let saved = try String(contentsOfFile: output + "/config.json", encoding: .utf8)
        for key in [#""randAugment" : "m9-n2""#, #""reprob" : 0.25"#, #""cutmixAlpha" : 1"#] { XCTAssertTrue(saved.contains(key), "\(key) in \(saved)") }
        let trivial = try run(tiny + ["--trivialaugment", "wide", "--output", output + "-trivial"])
        defer { try? FileManager.default.removeItem(atPath: output + "-trivial") }
        XCTAssertEqual(trivial.status, 0, trivial.output)
        let bad = try run(tiny + ["--randaugment", "strong", "--output", output + "-bad"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("--randaugment: expected a policy such as m9-n2"), bad.output)
    }
}
