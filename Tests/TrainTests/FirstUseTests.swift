import Data
import Foundation
import Models
import NN
import Train
import XCTest

/// What a new user tripped over (issue 27), each as the user met it: the `tricks` binary, its
/// output and its exit status.
final class FirstUseTests: XCTestCase {
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try TricksProcess.run(arguments, environment: environment)
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
}
