import Data
import Foundation
import Models
import NN
import Tensors
import Train
import XCTest

/// FCN training on the built-in scenes (issue 13): metrics, checkpoints, resume, backbones.
final class SegmentationTrainerTests: XCTestCase {
    func testConfusionMatrixMetrics() {
        var matrix = ConfusionMatrix(classes: 3)
        // truth:      0 0 1 1 2 255
        // prediction: 0 1 1 1 0 2
        matrix.add(truth: [0, 0, 1, 1, 2, 255], prediction: [0, 1, 1, 1, 0, 2])
        XCTAssertEqual(matrix.pixelAccuracy, 3.0 / 5.0, accuracy: 1e-12, "the ignored pixel does not count")
        // IoU: class 0: TP 1, union 2 (truth) + 2 (predicted) - 1 = 3; class 1: TP 2, union 2 + 3 - 2 = 3; class 2: 0 / 1.
        XCTAssertEqual(matrix.iou.map { $0 ?? -1 }, [1.0 / 3.0, 2.0 / 3.0, 0])
        XCTAssertEqual(matrix.meanIoU, 1.0 / 3.0, accuracy: 1e-12)
        var absent = ConfusionMatrix(classes: 3)
        absent.add(truth: [0, 1], prediction: [0, 1])
        XCTAssertNil(absent.iou[2], "a class in neither labels nor predictions does not count")
        XCTAssertEqual(absent.meanIoU, 1)
    }

    func config(_ name: String = #function) throws -> SegmentationConfig {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var c = SegmentationConfig()
        (c.trainScenes, c.valScenes, c.baseSize, c.cropSize, c.batchSize, c.epochs, c.threads, c.logEvery, c.lr) = (48, 16, 48, 40, 8, 3, 2, 1000, 0.02)
        c.output = NSTemporaryDirectory() + "bagoftricks-\(name.filter(\.isLetter))-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: c.output) }
        return c
    }

    func testTrainsAndWritesWhatEvalReads() throws {
        let c = try config()
        let trainer = try SegmentationTrainer(config: c)
        trainer.log = { _ in }
        let state = try trainer.run()
        XCTAssertEqual(state.history.count, 3)
        XCTAssertLessThan(state.history[2].trainLoss, state.history[0].trainLoss, "the loss falls")
        XCTAssertLessThan(state.history[2].valLoss, state.history[0].valLoss, "and so does the validation loss")
        let lines = try String(contentsOfFile: c.output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].contains("\"epoch\":1"), String(lines[0]))
        // The last checkpoint, loaded afresh, scores what the run reported for its last epoch.
        let model = try XCTUnwrap(ModelZoo.make(c.model, classes: 11, inputChannels: 1, auxiliaryHead: true) as? FCN)
        try model.loadStateDict(SafeTensors.read(c.output + "/last.safetensors").entries)
        let loader = try DataLoader(dataset: SegmentationSamples(GarmentScenes.builtIn(train: false, count: 16, size: 48)),
                                    transform: PackedJointTransform(Pipelines.segmentationEval(baseSize: 48, normalize: Normalize(
                                        mean: trainer.info.mean, std: trainer.info.std))), batchSize: 8, shuffle: false)
        let evaluation = try evaluateSegmentation(model, loader: loader, classes: 11)
        XCTAssertEqual(100 * evaluation.meanIoU, state.history[2].meanIoU, accuracy: 1e-9)
        XCTAssertEqual(100 * evaluation.pixelAccuracy, state.history[2].pixelAccuracy, accuracy: 1e-9)
    }

    func testResumeContinuesAndRefusesOtherSettings() throws {
        var c = try config()
        c.epochs = 1
        let first = try SegmentationTrainer(config: c)
        first.log = { _ in }
        _ = try first.run()
        c.epochs = 2
        let resumed = try SegmentationTrainer(config: c, resume: true)
        resumed.log = { _ in }
        XCTAssertEqual(resumed.state.epoch, 1)
        let state = try resumed.run()
        XCTAssertEqual(state.history.count, 2)
        XCTAssertEqual(try String(contentsOfFile: c.output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 2)
        c.lr = 0.5
        XCTAssertThrowsError(try SegmentationTrainer(config: c, resume: true)) { XCTAssertTrue("\($0)".contains("lr"), "\($0)") }
    }

    /// A classification checkpoint starts the backbone; another model's is refused by name.
    func testBackboneFromAClassificationCheckpoint() throws {
        var c = try config()
        let classifier = try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1)
        try classifier.initialize(.kaimingNormal, seed: 7)
        let info: [String: Any] = ["model": "cifar_resnet20", "classes": FashionMNIST.classes, "inputChannels": 1, "mean": [0], "std": [1],
                                   "augment": "small", "inputSize": 28]
        try FileManager.default.createDirectory(atPath: c.output, withIntermediateDirectories: true)
        let path = c.output + "/classifier.safetensors"
        try classifier.save(to: path, metadata: ["tricks.model_info": String(decoding: try JSONSerialization.data(withJSONObject: info), as: UTF8.self)])
        c.backbone = path
        let trainer = try SegmentationTrainer(config: c)
        let weights = Dictionary(uniqueKeysWithValues: trainer.task.fcn.backbone.namedParameters())
        XCTAssertEqual(try weights["layer3.2.conv2.weight"]?.scalars,
                       try Dictionary(uniqueKeysWithValues: classifier.namedParameters())["layer3.2.conv2.weight"]?.scalars)
        c.model = "fcn_cifar_resnet20d"
        XCTAssertThrowsError(try SegmentationTrainer(config: c)) { XCTAssertTrue("\($0)".contains("holds cifar_resnet20"), "\($0)") }
    }

    /// A Pascal VOC folder trains and evaluates (photos of other sizes: evaluation one at a time).
    func testTrainsOnAPascalVOCFolder() throws {
        var c = try config()
        let root = c.output + "-voc"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        for folder in ["JPEGImages", "SegmentationClass", "ImageSets/Segmentation"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        var generator = SeededGenerator(seed: 3)
        for (i, (w, h)) in [(40, 32), (36, 36), (44, 30), (32, 40)].enumerated() {
            let photo = Image(width: w, height: h, channels: 3, bytes: (0..<w * h * 3).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let mask = Mask(width: w, height: h, labels: (0..<w * h).map { $0 % w < w / 2 ? 0 : ($0 % 7 == 0 ? 255 : UInt8(i + 1)) })
            FileManager.default.createFile(atPath: root + "/JPEGImages/\(i).jpg", contents: Data(try ImageCodec.encodeJPEG(photo)))
            FileManager.default.createFile(atPath: root + "/SegmentationClass/\(i).png", contents: Data(try ImageCodec.encodeMask(mask)))
        }
        FileManager.default.createFile(atPath: root + "/ImageSets/Segmentation/train.txt", contents: Data("0\n1\n2\n3\n".utf8))
        FileManager.default.createFile(atPath: root + "/ImageSets/Segmentation/val.txt", contents: Data("2\n3\n".utf8))
        (c.data, c.baseSize, c.cropSize, c.batchSize, c.epochs) = (root, 32, 24, 2, 1)
        let trainer = try SegmentationTrainer(config: c)
        trainer.log = { _ in }
        XCTAssertEqual(trainer.info.classes.count, 21)
        XCTAssertEqual(trainer.info.inputChannels, 3)
        let state = try trainer.run()
        XCTAssertEqual(state.history.count, 1)
        XCTAssertTrue(state.history[0].meanIoU.isFinite)
        c.data = root + "/JPEGImages"
        XCTAssertThrowsError(try SegmentationTrainer(config: c)) { XCTAssertTrue("\($0)".contains("neither 'scenes' nor a Pascal VOC folder"), "\($0)") }
    }

    /// Sliding windows: a pointwise model gives the whole image's scores wherever the windows
    /// fall and however they overlap; a window as large as the image is the whole image.
    func testSlidingWindowScores() throws {
        let pointwise = try Conv2d(2, 3, kernel: 1, bias: true)
        try pointwise.initialize(.kaimingNormal, seed: 4)
        try pointwise.bias!.assign([0.1, -0.2, 0.3])
        var generator = SeededGenerator(seed: 9)
        let image = try Tensor.randn([1, 2, 11, 9], using: &generator)
        let whole = try pointwise(image).scalars
        for (window, stride) in [(5, 3), (4, 4), (8, 1)] {
            let slid = try slidingWindowScores(pointwise, image: image, window: window, stride: stride).scalars
            XCTAssertEqual(zip(slid, whole).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-5, "window \(window), stride \(stride)")
        }
        let fcn = try XCTUnwrap(ModelZoo.make("fcn_cifar_resnet20", classes: 4, inputChannels: 2) as? FCN)
        try fcn.initialize(.kaimingNormal, seed: 2)
        fcn.eval()
        XCTAssertEqual(try slidingWindowScores(fcn, image: image, window: 11, stride: 5).scalars,
                       try GradMode.withoutGradient { try fcn(image) }.scalars)
    }
}
