import Data
import Foundation
import Models
import NN
import Tensors
import Train
import XCTest

/// Faster R-CNN training on the built-in scenes (issue 29): the runner's metrics, checkpoints
/// that evaluate to what the run reported, exact resume, backbones, and a VOC folder.
final class DetectionTrainerTests: XCTestCase {
    func config(_ name: String = #function) throws -> DetectionConfig {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var c = DetectionConfig()
        (c.trainScenes, c.valScenes, c.sceneSize, c.batchSize, c.epochs, c.threads, c.logEvery, c.lr) = (16, 8, 64, 4, 2, 2, 1000, 0.01)
        (c.minSize, c.maxSize) = (64, 64)
        c.output = NSTemporaryDirectory() + "bagoftricks-\(name.filter(\.isLetter))-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: c.output) }
        return c
    }

    func testTrainsAndWritesWhatEvalReads() throws {
        let c = try config()
        let trainer = try DetectionTrainer(config: c)
        trainer.log = { _ in }
        let state = try trainer.run()
        XCTAssertEqual(state.history.count, 2)
        for epoch in state.history {
            XCTAssertTrue(epoch.trainLoss.isFinite && epoch.valLoss.isFinite, "\(epoch)")
            XCTAssertTrue((0...100).contains(epoch.voc07) && (0...100).contains(epoch.cocoAP), "\(epoch)")
        }
        let lines = try String(contentsOfFile: c.output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[1].contains("\"voc07\":") && lines[1].contains("\"cocoAP\":"), String(lines[1]))
        // The last checkpoint, rebuilt from its own description, scores what the run reported.
        let (entries, metadata) = try SafeTensors.read(c.output + "/last.safetensors")
        let info = try XCTUnwrap(ModelInfo(metadata: metadata))
        XCTAssertEqual(info.classes.first, "__background__")
        XCTAssertEqual(info.classes.count, 11)
        let detector = try DetectionTask.makeDetector(info)
        try detector.loadStateDict(entries)
        let evaluation = try evaluateDetection(detector, on: GarmentDetectionScenes.builtIn(train: false, count: 8, size: 64), batchSize: 4)
        XCTAssertEqual(evaluation.metrics.voc07, state.history[1].voc07, accuracy: 1e-9)
        XCTAssertEqual(evaluation.metrics.cocoAP, state.history[1].cocoAP, accuracy: 1e-9)
        XCTAssertEqual(evaluation.loss, state.history[1].valLoss, accuracy: 1e-6)
    }

    /// A run stopped in the middle of its second epoch and resumed ends with the weights,
    /// momentum and mAP of one that was never stopped (the samples' flips and the sampled anchors
    /// and proposals are seeded by the step, not drawn from a running generator).
    func testResumeMidEpochIsExact() throws {
        let straight = try config()
        let uninterrupted = try DetectionTrainer(config: straight)
        uninterrupted.log = { _ in }
        _ = try uninterrupted.run()

        var c = try config()
        let first = try DetectionTrainer(config: c)
        first.log = { _ in }
        let steps = first.trainLoader.batchCount
        first.afterStep = { state in if state.iteration == steps + steps / 2 { DetectionTrainer.requestStop() } }
        let stopped = try first.run()
        XCTAssertEqual([stopped.epoch, stopped.batch], [1, steps / 2])
        c.output = first.config.output
        let resumed = try DetectionTrainer(config: c, resume: true)
        resumed.log = { _ in }
        let final = try resumed.run()
        XCTAssertEqual(final.iteration, 2 * steps)
        let weights = { (m: Module) in try (m.namedParameters() + m.namedBuffers()).map { try $0.1.scalars } }
        XCTAssertEqual(try weights(resumed.model), try weights(uninterrupted.model))
        XCTAssertEqual(try resumed.optimizer.buffers, try uninterrupted.optimizer.buffers)
        XCTAssertEqual(final.history.last?.voc07, uninterrupted.state.history.last?.voc07)
        c.lr = 0.5
        XCTAssertThrowsError(try DetectionTrainer(config: c, resume: true)) { XCTAssertTrue("\($0)".contains("lr"), "\($0)") }
    }

    /// With `--ema-decay` the average of the weights is what each epoch scores (and what the
    /// checkpoints' evaluation model holds), and a run resumed mid-epoch continues it exactly.
    func testEMAIsEvaluatedAndResumesExactly() throws {
        var straight = try config()
        straight.emaDecay = 0.9
        let uninterrupted = try DetectionTrainer(config: straight)
        uninterrupted.log = { _ in }
        let history = try uninterrupted.run().history
        let weights = { (m: Module) in try (m.namedParameters() + m.namedBuffers()).map { try $0.1.scalars } }
        let average = try XCTUnwrap(uninterrupted.task.tricks.first?.trick.evaluationModel(for: uninterrupted.model) as? FasterRCNN)
        XCTAssertNotEqual(try weights(average), try weights(uninterrupted.model), "the average is not the trained weights")
        let scored = try evaluateDetection(average, on: GarmentDetectionScenes.builtIn(train: false, count: 8, size: 64), batchSize: 4)
        XCTAssertEqual(scored.metrics.voc07, history[1].voc07, accuracy: 1e-9)
        XCTAssertEqual(scored.loss, history[1].valLoss, accuracy: 1e-6)

        var c = try config()
        c.emaDecay = 0.9
        let first = try DetectionTrainer(config: c)
        first.log = { _ in }
        let steps = first.trainLoader.batchCount
        first.afterStep = { state in if state.iteration == steps + steps / 2 { DetectionTrainer.requestStop() } }
        _ = try first.run()
        c.output = first.config.output
        let resumed = try DetectionTrainer(config: c, resume: true)
        resumed.log = { _ in }
        let final = try resumed.run()
        let resumedAverage = try XCTUnwrap(resumed.task.tricks.first?.trick.evaluationModel(for: resumed.model))
        XCTAssertEqual(try weights(resumedAverage), try weights(average))
        XCTAssertEqual(final.history.last?.voc07, history.last?.voc07)
        c.emaDecay = 1
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--ema-decay"), "\($0)") }
    }

    /// A classification checkpoint starts the backbone (BatchNorm then frozen, 3 stages trained,
    /// as torchvision); another model's is refused by name.
    func testBackboneFromAClassificationCheckpoint() throws {
        var c = try config()
        let classifier = try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1)
        try classifier.initialize(.kaimingNormal, seed: 7)
        let info: [String: Any] = ["model": "cifar_resnet20", "classes": FashionMNIST.classes, "inputChannels": 1, "mean": [76.5], "std": [89.25],
                                   "augment": "small", "inputSize": 28]
        try FileManager.default.createDirectory(atPath: c.output, withIntermediateDirectories: true)
        let path = c.output + "/classifier.safetensors"
        try classifier.save(to: path, metadata: ["tricks.model_info": String(decoding: try JSONSerialization.data(withJSONObject: info), as: UTF8.self)])
        c.backbone = path
        let task = try DetectionTask(config: c, resume: false)
        let body = Dictionary(uniqueKeysWithValues: task.detector.backbone.body.namedParameters() + task.detector.backbone.body.namedBuffers())
        let trained = Dictionary(uniqueKeysWithValues: classifier.namedParameters() + classifier.namedBuffers())
        XCTAssertEqual(try body["layer3.2.conv2.weight"]?.scalars, try trained["layer3.2.conv2.weight"]?.scalars)
        XCTAssertEqual(try body["layer1.0.bn1.running_var"]?.scalars, try trained["layer1.0.bn1.running_var"]?.scalars, "frozen BatchNorm keeps its statistics")
        XCTAssertEqual(task.detector.settings.imageMean[0], 0.3, accuracy: 1e-6, "the backbone's normalisation, [0, 255] to [0, 1]")
        XCTAssertEqual(task.detector.settings.imageStd[0], 0.35, accuracy: 1e-6)
        XCTAssertFalse(try XCTUnwrap(body["conv1.weight"]).requiresGrad, "3 of 5 layers train: not the stem")
        XCTAssertTrue(try XCTUnwrap(body["layer3.0.conv1.weight"]).requiresGrad)
        c.model = "fasterrcnn_cifar_resnet20d_fpn"
        XCTAssertThrowsError(try DetectionTask(config: c, resume: false)) { XCTAssertTrue("\($0)".contains("holds cifar_resnet20"), "\($0)") }
    }

    /// A Pascal VOC folder of photos of different sizes trains and evaluates.
    func testTrainsOnAPascalVOCFolder() throws {
        var c = try config()
        let root = c.output + "-voc"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        for folder in ["JPEGImages", "Annotations", "ImageSets/Main"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        var generator = SeededGenerator(seed: 3)
        for (i, (w, h)) in [(80, 64), (72, 72), (88, 60), (64, 80)].enumerated() {
            let photo = Image(width: w, height: h, channels: 3, bytes: (0..<w * h * 3).map { _ in UInt8.random(in: 0...80, using: &generator) })
            FileManager.default.createFile(atPath: root + "/JPEGImages/\(i).jpg", contents: Data(try ImageCodec.encodeJPEG(photo)))
            let name = ["dog", "cat", "person", "dog"][i]
            let xml = "<annotation><size><width>\(w)</width><height>\(h)</height></size><object><name>\(name)</name><difficult>0</difficult>"
                + "<bndbox><xmin>10</xmin><ymin>12</ymin><xmax>40</xmax><ymax>50</ymax></bndbox></object></annotation>"
            FileManager.default.createFile(atPath: root + "/Annotations/\(i).xml", contents: Data(xml.utf8))
        }
        FileManager.default.createFile(atPath: root + "/ImageSets/Main/trainval.txt", contents: Data("0\n1\n2\n3\n".utf8))
        FileManager.default.createFile(atPath: root + "/ImageSets/Main/test.txt", contents: Data("2\n3\n".utf8))
        (c.data, c.model, c.batchSize, c.epochs) = (root, "fasterrcnn_cifar_resnet20_fpn", 2, 1)
        let trainer = try DetectionTrainer(config: c)
        trainer.log = { _ in }
        XCTAssertEqual(trainer.info.classes.count, 21, "VOC's 20 classes and the background")
        XCTAssertEqual(trainer.info.inputChannels, 3)
        let state = try trainer.run()
        XCTAssertEqual(state.history.count, 1)
        XCTAssertTrue(state.history[0].trainLoss.isFinite)
        c.data = root + "/JPEGImages"
        XCTAssertThrowsError(try DetectionTrainer(config: c)) { XCTAssertTrue("\($0)".contains("is neither 'scenes', a COCO annotation file"), "\($0)") }
    }

    func testSettingsAreCheckedByFlag() throws {
        var c = try config()
        c.model = "fcn_resnet50"
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--model: fcn_resnet50 is not a detection model"), "\($0)") }
        c = try config()
        c.trainableBackboneLayers = 6
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--trainable-backbone-layers: must be 0 to 5"), "\($0)") }
        c = try config()
        c.data = "/somewhere/instances_train.json"
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--images"), "\($0)") }
        c = try config()
        c.anchorSizes = [8, 16]
        XCTAssertThrowsError(try DetectionTask(config: c, resume: false)) { XCTAssertTrue("\($0)".contains("anchor sizes"), "\($0)") }
    }
}
