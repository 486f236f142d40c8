import Data
import Foundation
import Models
import NN
import Tensors
import Train
import XCTest

/// What a new user tripped over (issue 27), each as the user met it: the `tricks` binary, its
/// output and its exit status.
final class FirstUseTests: XCTestCase {
    func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> (status: Int32, output: String) {
        try TricksProcess.run(arguments, environment: environment, directory: directory)
    }

    /// `train/` and `val/` inside `root`, each an `imageFolder` (`val` with other images).
    func trainAndValFolders(_ root: String, train: Int, val: Int) throws {
        try imageFolder(root + "/train", count: train)
        try imageFolder(root + "/val", count: val, seed: 1)
    }

    /// A folder of class folders `a` and `b` under `root`, `count` 32x32 PNGs each, different per
    /// class and image; returns their paths.
    @discardableResult
    func imageFolder(_ root: String, count: Int, seed: Int = 0) throws -> [String] {
        var paths: [String] = []
        for (label, name) in ["a", "b"].enumerated() {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            for i in 0..<count {
                let bytes = (0..<32 * 32 * 3).map { UInt8(truncatingIfNeeded: $0 * (label + 1) + i * 37 + seed * 11 + (label == 0 ? 0 : 128)) }
                let path = "\(root)/\(name)/\(i).png"
                FileManager.default.createFile(atPath: path, contents: Foundation.Data(try ImageCodec.encodePNG(Image(width: 32, height: 32, channels: 3, bytes: bytes))))
                paths.append(path)
            }
        }
        return paths
    }

    /// The run's `config.json`, as an object.
    func savedConfig(_ folder: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as? [String: Any])
    }

    let tiny = ["--train-per-class", "4", "--val-per-class", "2", "--epochs", "1", "-b", "20"]

    /// Item 1: checkpoints and run folders written when `resnet50` meant the original ResNet keep
    /// that network (`resnet50a` today); a config file a person writes uses today's names.
    func testFilesFromBeforeTheRenameLoadTheNetworkTheyHold() throws {
        let info = #"{"model":"resnet50","classes":["a","b"],"inputChannels":3,"mean":[0,0,0],"std":[1,1,1],"augment":"imagenet","inputSize":224}"#
        XCTAssertEqual(ModelInfo(metadata: ["tricks.model_info": info])?.model, "resnet50a")
        let today = String(info.dropLast()) + #","resnetNames":"torchvision"}"#
        XCTAssertEqual(ModelInfo(metadata: ["tricks.model_info": today])?.model, "resnet50")

        let root = TricksProcess.scratch("names")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Foundation.Data(#"{"model": "resnet101", "epochs": 3}"#.utf8).write(to: URL(fileURLWithPath: root + "/config.json"))
        XCTAssertEqual(try TrainConfig.savedRun(in: root)?.model, "resnet101a", "a run folder from before")
        XCTAssertEqual(try TrainConfig.load(root + "/config.json").model, "resnet101", "a file a person wrote")
        var written = TrainConfig()
        written.model = "resnet101"
        try Foundation.Data(written.json.utf8).write(to: URL(fileURLWithPath: root + "/config.json"))
        XCTAssertEqual(try TrainConfig.savedRun(in: root)?.model, "resnet101", "a run folder written today")
    }

    /// Item 1: `tricks models` says which variant each ResNet name is.
    func testModelsSaysWhichResNetEachNameIs() throws {
        let (status, output) = try run(["models", "resnet50"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("| resnet50 | 25,557,032 | 4.09 | 224x224 | ResNet-B, torchvision's and timm's |"), output)
        XCTAssertTrue(output.contains("| resnet50a | 25,557,032 | 3.86 | 224x224 | the paper's original ResNet |"), output)
        XCTAssertTrue(output.contains("| resnet50d | ") && output.contains("| ResNet-D |"), output)
    }

    /// Item 2: a learning rate the user gives wins over a recipe's scaled one, from a flag or a
    /// config file; both flags together are an error naming both; a config file's recipe applies.
    func testTheLearningRateGivenWinsOverTheRecipe() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("lr")
        defer { try? FileManager.default.removeItem(atPath: root) }

        let flag = try run(["train", "--model", "lenet5", "--recipe", "full", "--lr", "0.3", "--output", root + "/flag"] + tiny)
        XCTAssertEqual(flag.status, 0, flag.output)
        XCTAssertTrue(flag.output.contains("lr 0.3 (absolute, given over the recipe's linear scaling)"), flag.output)
        var saved = try savedConfig(root + "/flag")
        XCTAssertEqual(saved["lr"] as? Double, 0.3)
        XCTAssertNil(saved["lrPer256"], "one learning rate in config.json")
        XCTAssertEqual(saved["recipe"] as? String, "full")

        let scaled = try run(["train", "--model", "lenet5", "--recipe", "full", "--output", root + "/scaled"] + tiny)
        XCTAssertEqual(scaled.status, 0, scaled.output)
        XCTAssertTrue(scaled.output.contains("lr 0.0078125 (linear scaling: 0.1 per 256 images x batch 20 / 256)"), scaled.output)

        let both = try run(["train", "--lr", "0.3", "--lr-per-256", "0.1", "--output", root + "/both"] + tiny)
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.output.contains("--lr and --lr-per-256 both given"), both.output)

        let file = root + "/run.json"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Foundation.Data(#"{"recipe": "full", "lr": 0.2, "model": "lenet5", "batch-size": 20}"#.utf8).write(to: URL(fileURLWithPath: file))
        let configured = try run(["train", "--config", file, "--output", root + "/file", "--train-per-class", "4", "--val-per-class", "2", "--epochs", "1"])
        XCTAssertEqual(configured.status, 0, configured.output)
        saved = try savedConfig(root + "/file")
        XCTAssertEqual(saved["lr"] as? Double, 0.2, "the file's lr wins over its recipe's")
        XCTAssertEqual(saved["schedule"] as? String, "cosine", "the file's recipe is applied, not only recorded")
        XCTAssertEqual((saved["trickSettings"] as? [String: Any])?["labelSmoothing"] as? Double, 0.1)

        try Foundation.Data(#"{"lr": 0.2, "lr-per-256": 0.1}"#.utf8).write(to: URL(fileURLWithPath: file))
        let conflicting = try run(["train", "--config", file, "--output", root + "/conflicting"] + tiny)
        XCTAssertNotEqual(conflicting.status, 0)
        XCTAssertTrue(conflicting.output.contains(#"gives both "lr" (absolute) and "lrPer256""#), conflicting.output)
    }

    /// Item 7: `predict --classes` renames a checkpoint's classes; only a count that differs is refused.
    func testPredictClassesRenamesTheClasses() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("classes")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trained = try run(["train", "--model", "lenet5", "--output", root + "/run"] + tiny)
        XCTAssertEqual(trained.status, 0, trained.output)
        let image = try ImageCodec.encodePNG(Image(width: 28, height: 28, channels: 1, bytes: (0..<784).map { UInt8($0 % 256) }))
        FileManager.default.createFile(atPath: root + "/shoe.png", contents: Foundation.Data(image))
        try Foundation.Data((0..<10).map { "garment \($0)" }.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: root + "/ten.txt"))
        try Foundation.Data("a\nb\nc".utf8).write(to: URL(fileURLWithPath: root + "/three.txt"))
        let renamed = try run(["predict", "--checkpoint", root + "/run/best.safetensors", "--classes", root + "/ten.txt", root + "/shoe.png"])
        XCTAssertEqual(renamed.status, 0, renamed.output)
        XCTAssertTrue(renamed.output.contains("%  garment "), renamed.output)
        let wrongCount = try run(["predict", "--checkpoint", root + "/run/best.safetensors", "--classes", root + "/three.txt", root + "/shoe.png"])
        XCTAssertNotEqual(wrongCount.status, 0)
        XCTAssertTrue(wrongCount.output.contains("3 names given, but"), wrongCount.output)
    }

    /// Item 3: `tricks selftest` on a machine without a GPU: one line saying so, status 1, no crash.
    func testSelftestWithoutAGPUSaysSoInOneLine() throws {
        let (status, output) = try run(["selftest"], environment: ["TRICKS_CUDA_EMULATION": "0", "TRICKS_CUDA_LIBS": "/nonexistent"])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("--device cuda cannot run here") && output.contains("--device cpu --against reference"), output)
        XCTAssertFalse(output.contains("Fatal error") || output.contains("FAIL"), output)
        XCTAssertEqual(output.split(separator: "\n").count, 1, output)
    }

    /// Item 4: `segment predict` on folders whose images share names writes one mask and one
    /// overlay per image, named by the path under the folder given, and says how many.
    func testSegmentPredictKeepsEveryImagesOutput() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("segment-names")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trained = try run(["segment", "train", "--train-scenes", "8", "--val-scenes", "4", "--base-size", "48", "--crop-size", "40",
                               "-b", "4", "--epochs", "1", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let image = try ImageCodec.encodePNG(Image(width: 40, height: 30, channels: 1, bytes: (0..<1200).map { UInt8($0 % 251) }))
        let inputs = ["scenes/day/0001.png", "scenes/night/0001.png", "scenes/0001.png", "more/0001.png"]
        for input in inputs {
            let path = root + "/" + input
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path, contents: Foundation.Data(image))
        }
        let predicted = try run(["segment", "predict", "--checkpoint", root + "/run/best.safetensors", "--output-dir", root + "/out",
                                 root + "/scenes", root + "/more/0001.png"])
        XCTAssertEqual(predicted.status, 0, predicted.output)
        XCTAssertTrue(predicted.output.contains("4 of 4 images predicted: 4 mask and 4 overlay PNGs in \(root)/out"), predicted.output)
        for name in ["0001", "day/0001", "night/0001", "0001-2"] {
            for kind in ["mask", "overlay"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(root)/out/\(name).\(kind).png"), "\(name).\(kind).png: \(predicted.output)")
            }
        }
        XCTAssertTrue(predicted.output.contains("\(root)/more/0001.png: ") && predicted.output.contains("-> \(root)/out/0001-2.mask.png"),
                      "each line says which file came from which image: \(predicted.output)")

        let empty = root + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let nothing = try run(["segment", "predict", "--checkpoint", root + "/run/best.safetensors", empty])
        XCTAssertNotEqual(nothing.status, 0)
        XCTAssertTrue(nothing.output.contains("no JPEG or PNG image in \(empty)"), nothing.output)
    }

    /// Item 8: an unreadable training image is reported once and skipped, its place in the batch
    /// taken by another (at -b 2 a batch of two bad files no longer stops the run); --strict
    /// stops at the first bad file, naming it, without a "skipped" line before.
    func testUnreadableImagesAreSkippedOnceAndStrictStopsAtTheFirst() throws {
        let root = TricksProcess.scratch("bad-images")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try trainAndValFolders(root, train: 6, val: 2)
        let bad = [root + "/train/a/empty.png", root + "/train/a/zz-notes.png", root + "/train/b/truncated.png"]
        FileManager.default.createFile(atPath: bad[0], contents: Foundation.Data())
        FileManager.default.createFile(atPath: bad[1], contents: Foundation.Data("not an image".utf8))
        let png = try Foundation.Data(contentsOf: URL(fileURLWithPath: root + "/train/b/0.png"))
        FileManager.default.createFile(atPath: bad[2], contents: png.prefix(60))
        for batch in ["2", "4"] {
            let trained = try run(["train", "--data", root, "-b", batch, "--epochs", "2", "--threads", "1", "--output", root + "/run" + batch])
            XCTAssertEqual(trained.status, 0, trained.output)
            for path in bad {
                XCTAssertEqual(trained.output.components(separatedBy: "skipped \(path):").count - 1, 1, "-b \(batch): \(path) once: \(trained.output)")
            }
            XCTAssertTrue(trained.output.contains("final: top-1"), trained.output)
        }
        let strict = try run(["train", "--data", root, "-b", "2", "--epochs", "1", "--strict", "--output", root + "/strict"])
        XCTAssertNotEqual(strict.status, 0)
        XCTAssertTrue(strict.output.contains("Error: \(bad[0]): empty file"), strict.output)
        XCTAssertFalse(strict.output.contains("skipped"), strict.output)
    }

    /// Item 9 (eval scores a plain folder: every image in it), 13 (data folders are recorded from
    /// the root, so that eval and --resume work from anywhere) and 6 (the default output is
    /// runs/MODEL).
    func testEvalScoresAPlainFolderAndRunsRecordTheirDataFromTheRoot() throws {
        let root = TricksProcess.scratch("eval-folder")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try trainAndValFolders(root + "/photos", train: 6, val: 2)
        let trained = try run(["train", "--data", "photos//train/../", "-b", "4", "--epochs", "1", "--threads", "1"], directory: root)
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains("(all in runs/cifar_resnet20/config.json)"), "default output runs/MODEL: \(trained.output)")
        let data = try XCTUnwrap(try savedConfig(root + "/runs/cifar_resnet20")["data"] as? [String: Any])
        XCTAssertEqual(data["path"] as? String, URL(fileURLWithPath: root + "/photos").standardizedFileURL.path, "from the root, without // or ..")

        let elsewhere = NSTemporaryDirectory()
        let checkpoint = root + "/runs/cifar_resnet20/best.safetensors"
        let recorded = try run(["eval", "--checkpoint", checkpoint], directory: elsewhere)
        XCTAssertEqual(recorded.status, 0, recorded.output)
        XCTAssertTrue(recorded.output.contains("(4 images)"), "the run's validation folder: \(recorded.output)")
        let plain = try run(["eval", "--checkpoint", checkpoint, "--data", root + "/photos/train"])
        XCTAssertEqual(plain.status, 0, plain.output)
        XCTAssertTrue(plain.output.contains("has no validation split (val/ or test/ inside): scoring every image in it")
                      && plain.output.contains("(12 images)"), plain.output)
        let resumed = try run(["train", "--output", root + "/runs/cifar_resnet20", "--resume", "--epochs", "2"], directory: elsewhere)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("after 2 epochs"), resumed.output)
    }

    /// Item 17's --resume cases: a finished run says there is nothing to do; a folder without a
    /// run says so before any data is read.
    func testResumeSaysWhenThereIsNothingToContinue() throws {
        let root = TricksProcess.scratch("resume-nothing")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try trainAndValFolders(root + "/data", train: 4, val: 2)
        let trained = try run(["train", "--data", root + "/data", "-b", "4", "--epochs", "1", "--threads", "1", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains(", 1 epoch, batch 4,"), "1 epoch, not 1 epochs: \(trained.output)")
        let again = try run(["train", "--output", root + "/run", "--resume"])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertEqual(again.output, "\(root)/run has finished its 1 epoch: nothing to do (give --epochs with more to train further)\n")
        let missing = try run(["train", "--output", root + "/missing", "--resume"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.hasPrefix("Error: --resume: \(root)/missing holds no run to continue"), missing.output)
        XCTAssertFalse(missing.output.contains("settings:"), "nothing read before the error: \(missing.output)")
    }

    /// Items 11 and 12: --data naming a file, a format whose files are missing, and a split that
    /// leaves nothing to train on each say what was expected.
    func testDataErrorsSayWhatWasExpected() throws {
        let root = TricksProcess.scratch("data-errors")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = try imageFolder(root + "/one", count: 1)
        let file = try run(["train", "--data", files[0], "--output", root + "/r1"])
        XCTAssertNotEqual(file.status, 0)
        XCTAssertTrue(file.output.contains("\(files[0]): is a file; --data takes a folder") && file.output.contains("train-images-idx3-ubyte[.gz]")
                      && file.output.contains("data_batch_1.bin"), file.output)
        let cifar = try run(["train", "--data", root + "/one", "--format", "cifar10", "--output", root + "/r2"])
        XCTAssertTrue(cifar.output.contains("has no CIFAR-10 binary files: expected data_batch_1.bin ... data_batch_5.bin and test_batch.bin"), cifar.output)
        let idx = try run(["train", "--data", root + "/one", "--format", "idx", "--output", root + "/r3"])
        XCTAssertTrue(idx.output.contains("has no MNIST IDX files: expected train-images-idx3-ubyte[.gz]"), idx.output)
        let split = try run(["train", "--data", root + "/one", "--val-split", "0.5", "--output", root + "/r4"])
        XCTAssertNotEqual(split.status, 0)
        XCTAssertTrue(split.output.contains("Error: --val-split: 0.5 of \(root)/one's 2 images holds out every one of them"), split.output)
    }

    /// Items 5 and 10: segment train --resume continues with the run's own settings; segment
    /// eval takes --data; each command names the kind of checkpoint it was given when it is the
    /// other kind, and which command takes it.
    func testSegmentResumesAndEvaluatesOnTheDataGivenAndCheckpointKindsAreNamed() throws {
        try TricksProcess.requireFashionMNIST()
        let root = TricksProcess.scratch("segment-resume")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run1 = root + "/seg"
        let trained = try run(["segment", "train", "--train-scenes", "8", "--val-scenes", "4", "--base-size", "48", "--crop-size", "40",
                               "-b", "4", "--epochs", "1", "--output", run1])
        XCTAssertEqual(trained.status, 0, trained.output)
        let resumed = try run(["segment", "train", "--output", run1, "--resume", "--epochs", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from \(run1)/last.safetensors: epoch 2, batch 0") && resumed.output.contains("after 2 epochs"),
                      resumed.output)
        let changed = try run(["segment", "train", "--output", run1, "--resume", "--epochs", "3", "--lr", "0.5"])
        XCTAssertNotEqual(changed.status, 0)
        XCTAssertTrue(changed.output.contains("lr"), changed.output)

        let scenes = try run(["segment", "eval", "--checkpoint", run1 + "/best.safetensors"])
        XCTAssertEqual(scenes.status, 0, scenes.output)
        XCTAssertTrue(scenes.output.contains("on scenes (4 images)"), "the run's data and scene count: \(scenes.output)")
        // A Pascal VOC folder: three 3-channel photos in 21 classes, which this model is not for.
        let voc = root + "/VOC"
        for folder in ["JPEGImages", "SegmentationClass", "ImageSets/Segmentation"] {
            try FileManager.default.createDirectory(atPath: voc + "/" + folder, withIntermediateDirectories: true)
        }
        for name in ["x1", "x2"] {
            let photo = Image(width: 40, height: 30, channels: 3, bytes: (0..<3600).map { UInt8($0 % 253) })
            FileManager.default.createFile(atPath: "\(voc)/JPEGImages/\(name).jpg", contents: Foundation.Data(try ImageCodec.encodeJPEG(photo)))
            let mask = Mask(width: 40, height: 30, labels: (0..<1200).map { UInt8($0 % 21) })
            FileManager.default.createFile(atPath: "\(voc)/SegmentationClass/\(name).png", contents: Foundation.Data(try ImageCodec.encodeMask(mask)))
        }
        for split in ["train", "val"] { FileManager.default.createFile(atPath: "\(voc)/ImageSets/Segmentation/\(split).txt", contents: Foundation.Data("x1\nx2\n".utf8)) }
        let other = try run(["segment", "eval", "--checkpoint", run1 + "/best.safetensors", "--data", voc])
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.output.contains("segments 1-channel images into 11 classes; \(voc) has 3-channel images and 21 classes"), other.output)

        let predict = try run(["predict", "--checkpoint", run1 + "/best.safetensors", voc + "/JPEGImages"])
        XCTAssertNotEqual(predict.status, 0)
        XCTAssertTrue(predict.output.contains("is a segmentation checkpoint (fcn_cifar_resnet20, written by `tricks segment train`)")
                      && predict.output.contains("tricks segment predict"), predict.output)
        let eval = try run(["eval", "--checkpoint", run1 + "/best.safetensors"])
        XCTAssertTrue(eval.output.contains("tricks segment eval") && !eval.output.contains("give --data"), eval.output)

        try imageFolder(root + "/photos", count: 2)
        let classifier = try run(["train", "--data", root + "/photos", "--val-data", root + "/photos", "-b", "4", "--epochs", "1",
                                  "--output", root + "/cls"])
        XCTAssertEqual(classifier.status, 0, classifier.output)
        let wrong = try run(["segment", "eval", "--checkpoint", root + "/cls/best.safetensors"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.output.contains("is a classification checkpoint (cifar_resnet20, written by `tricks train`): score it with `tricks eval`"),
                      wrong.output)
    }

    /// Item 15: finetune says which weights it loaded, which head it replaced and what trains when.
    func testFinetuneSaysWhatItDid() throws {
        let root = TricksProcess.scratch("finetune")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try trainAndValFolders(root + "/data", train: 4, val: 2)
        let trained = try run(["train", "--data", root + "/data", "-b", "4", "--epochs", "1", "--output", root + "/from"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let tuned = try run(["finetune", "--from", root + "/from/best.safetensors", "--data", root + "/data", "-b", "4", "--epochs", "2",
                             "--freeze-epochs", "1", "--output", root + "/tuned"])
        XCTAssertEqual(tuned.status, 0, tuned.output)
        XCTAssertTrue(tuned.output.contains("finetune: 105 of 107 tensors loaded from \(root)/from/best.safetensors; head fc replaced "
                                            + "(2 outputs there, 2 classes here, initialised afresh); only fc trains in epoch 1, every layer from epoch 2 on"),
                      tuned.output)
        let help = try run(["finetune", "--help"])
        XCTAssertTrue(help.output.contains("--smoothing <value>") && help.output.contains("--mixup <value>"), "the trick flags: \(help.output)")
    }

    /// Item 17: help and wording.
    func testHelpAndWording() throws {
        let nope = try run(["help", "nope"])
        XCTAssertNotEqual(nope.status, 0)
        XCTAssertTrue(nope.output.contains("unknown command 'nope'"), nope.output)
        let help = try run(["train", "--help"])
        XCTAssertTrue(help.output.hasPrefix("OVERVIEW:"), help.output)
        XCTAssertFalse(help.output.contains("(default: )"), help.output)
        let lines = help.output.components(separatedBy: "\n")
        for option in ["--format", "--channels", "--precision", "--bucket-mb", "--mixup-off-epoch"] {
            // The option's line and the lines of its description, up to the next option.
            guard let first = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(option + " <") }) else {
                XCTFail("\(option) is not in the help"); continue
            }
            let rest = lines[(first + 1)...].prefix { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("-") }
            let described = ([lines[first]] + rest).joined(separator: " ")
            XCTAssertTrue(described.lowercased().contains("default:"), "\(option): \(described)")
        }
        // Wrapped help lines of the plug-in flags stay indented under their flag.
        let plugin = help.output.components(separatedBy: "\n").filter { $0.contains("--smoothing <value>") }
        XCTAssertEqual(plugin.count, 1)
        XCTAssertTrue(help.output.contains("--smoothing <value>\n              Label smoothing"), help.output)
        let segment = try run(["segment", "--help"])
        XCTAssertTrue(segment.output.contains("train, eval and predict"), segment.output)
        let models = try run(["models", "fcn_resnet50"])
        XCTAssertTrue(models.output.contains("| fcn_resnet50 | 35,322,218 |"), "torchvision's fcn_resnet50 (21 classes, auxiliary head): \(models.output)")
        let error = try run(["train", "--sched", "linear", "--output", TricksProcess.scratch("sched")])
        XCTAssertTrue(error.output.contains("The value 'linear' is invalid for '--sched <sched>'. Please provide one of 'step', 'cosine' or 'constant'"), error.output)
    }

    /// Item 17: predict's JSON holds numbers as short as they are precise, and a bad file is
    /// named once in its line (not "path: skipped: path: ...").
    func testPredictWritesShortNumbersAndNamesABadFileOnce() throws {
        let root = TricksProcess.scratch("predict-json")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try imageFolder(root + "/data", count: 2)
        let trained = try run(["train", "--data", root + "/data", "--val-data", root + "/data", "-b", "4", "--epochs", "1", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let bad = root + "/data/b/broken.png"
        FileManager.default.createFile(atPath: bad, contents: Foundation.Data("no".utf8))
        let predicted = try run(["predict", "--checkpoint", root + "/run/best.safetensors", "--json", root + "/p.json", root + "/data"])
        XCTAssertEqual(predicted.status, 1, predicted.output)
        XCTAssertEqual(predicted.output.components(separatedBy: bad).count - 1, 1, predicted.output)
        XCTAssertTrue(predicted.output.contains("skipped \(bad): "), predicted.output)
        let json = try String(contentsOfFile: root + "/p.json", encoding: .utf8)
        let numbers = json.split(whereSeparator: { !"0123456789.e-".contains($0) }).filter { $0.contains(".") }
        XCTAssertFalse(numbers.isEmpty, json)
        for number in numbers { XCTAssertLessThanOrEqual(number.count, 10, "\(number) in \(json)") }
    }

    /// Issue 31 item 2: eval and predict in bf16 where the CPU computes in it; eval says how
    /// often bf16's top-1 is FP32's.
    func testEvalAndPredictInBFloat16() throws {
        try XCTSkipUnless(Autocast.isNative(.bfloat16), "no native bf16 kernels on this CPU")
        let root = TricksProcess.scratch("bf16-eval")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try trainAndValFolders(root + "/data", train: 4, val: 3)
        let trained = try run(["train", "--data", root + "/data", "-b", "4", "--epochs", "1", "--output", root + "/run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let eval = try run(["eval", "--checkpoint", root + "/run/best.safetensors", "--precision", "bf16"])
        XCTAssertEqual(eval.status, 0, eval.output)
        XCTAssertTrue(eval.output.contains("on \(root)/data (6 images) in bf16: loss") && eval.output.contains("the same top-1 class for "),
                      eval.output)
        let predict = try run(["predict", "--checkpoint", root + "/run/best.safetensors", "--precision", "bf16", root + "/data/val"])
        XCTAssertEqual(predict.status, 0, predict.output)
        XCTAssertEqual(predict.output.components(separatedBy: "%  ").count - 1, 12, "two classes for each of 6 images: \(predict.output)")
        let wrong = try run(["eval", "--checkpoint", root + "/run/best.safetensors", "--precision", "fp16"])
        XCTAssertTrue(wrong.output.contains("--precision must be fp32 or bf16 here, not fp16"), wrong.output)
    }
}
