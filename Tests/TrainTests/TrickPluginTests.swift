import Data
import Foundation
import Models
import NN
import Tensors
import Train
import XCTest

/// The trainer's plug-in seam: settings in config files and on the command line, and a trick
/// from outside the registry that uses every hook, including checkpoint state across a resume.
final class TrickPluginTests: XCTestCase {
    /// Counts optimiser steps and evaluations, keeps the count in the checkpoint, and (to
    /// exercise the loss hook) returns the plain cross-entropy itself.
    final class StepCounter: TrainingTrick {
        nonisolated(unsafe) static var evaluations = 0
        var steps: Float = 0
        var targetsSeen = 0, batchesSeen = 0

        func targets(_ targets: inout [Float], labels: [Int], classes: Int) throws { targetsSeen += 1 }
        func batch(images: inout Tensor, targets: inout [Float], step: StepInfo) throws { batchesSeen += 1 }
        func loss(logits: Tensor, images: Tensor, target: Tensor) throws -> Tensor? { try crossEntropy(logits, target: target) }
        func afterStep(model: Module, step: StepInfo) throws { steps += 1 }
        func evaluationModel(for model: Module) -> Module? {
            StepCounter.evaluations += 1
            return nil
        }
        func checkpointState() throws -> [String: [Float]] { ["steps": [steps]] }
        func restore(_ state: [String: [Float]]) throws { steps = state["steps"]?.first ?? -1 }

        static let on = Setting<Double>(key: "countSteps", flag: "count-steps", default: 0, help: "test")
        nonisolated(unsafe) static var made: [StepCounter] = []
        static let registration = TrickRegistration(
            name: "step counter", settings: [on], validate: { _ in }, enable: { $0.trickSettings["countSteps"] = .number(1) },
            make: { c, _ in
                guard c.trickSettings["countSteps"] != nil else { return nil }
                let trick = StepCounter()
                StepCounter.made.append(trick)
                return trick
            })
    }

    func testAPluginTrickGetsEveryHookAndResumesItsState() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var c = TrainConfig()
        (c.model, c.trainPerClass, c.valPerClass, c.batchSize, c.epochs, c.threads, c.logEvery) = ("lenet5", 10, 5, 25, 2, 2, 1000)
        c.output = NSTemporaryDirectory() + "bagoftricks-plugin-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: c.output) }
        StepCounter.registration.enable(&c)
        let registrations = TrickRegistry.registered + [StepCounter.registration]
        let trainer = try Trainer(config: c, tricks: registrations)
        trainer.log = { _ in }
        let stepsPerEpoch = trainer.trainLoader.batchCount
        let evaluationsBefore = StepCounter.evaluations
        _ = try trainer.run()
        let first = try XCTUnwrap(StepCounter.made.last)
        XCTAssertEqual(first.steps, Float(2 * stepsPerEpoch))
        XCTAssertEqual(first.targetsSeen, 2 * stepsPerEpoch)
        XCTAssertEqual(first.batchesSeen, 2 * stepsPerEpoch)
        XCTAssertGreaterThanOrEqual(StepCounter.evaluations - evaluationsBefore, 2, "asked which model to evaluate each epoch")

        // The count is in the checkpoint, under the trick's name, and a resumed run gets it back.
        let (_, _, _, saved) = try Checkpoint.loadState(trainer.lastCheckpoint)
        XCTAssertEqual(saved["step_counter.steps"], [Float(2 * stepsPerEpoch)])
        c.epochs = 3
        let resumed = try Trainer(config: c, resume: true, tricks: registrations)
        resumed.log = { _ in }
        let second = try XCTUnwrap(StepCounter.made.last)
        XCTAssertFalse(second === first)
        XCTAssertEqual(second.steps, Float(2 * stepsPerEpoch), "restored from the checkpoint")
        _ = try resumed.run()
        XCTAssertEqual(second.steps, Float(3 * stepsPerEpoch))
    }

    func testSettingsLiveInTheConfigUnderTheirOwnKeys() throws {
        var c = TrainConfig()
        XCTAssertEqual(c[LabelSmoothing.eps], 0, "the default when unset")
        XCTAssertNil(c[Distillation.teacher])
        c[LabelSmoothing.eps] = 0.1
        c[Mixup.offEpoch] = 3
        c[Distillation.teacher] = "t.safetensors"
        // Written under "trickSettings" and read back equal.
        let json = try JSONEncoder().encode(c)
        XCTAssertEqual(try JSONDecoder().decode(TrainConfig.self, from: json), c)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains(#""trickSettings":{"#))
        // Setting a default removes the entry: configs that mean the same compare equal.
        c[LabelSmoothing.eps] = 0
        XCTAssertNil(c.trickSettings["labelSmoothing"])
        // Config files (and checkpoints) written before the seam kept them at the top level.
        let old = try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"labelSmoothing": 0.1, "teacher": "a", "distillTemperature": 4}"#.utf8))
        XCTAssertEqual(old[LabelSmoothing.eps], 0.1)
        XCTAssertEqual(old[Distillation.teacher], "a")
        XCTAssertEqual(old[Distillation.temperature], 4)
        // A setting of a trick this build does not register survives a decode (a checkpoint's
        // config), while a config file with a misspelt trick setting is refused, naming it.
        let foreign = try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"trickSettings": {"countSteps": 1}}"#.utf8))
        XCTAssertEqual(foreign.trickSettings["countSteps"], .number(1))
        let path = NSTemporaryDirectory() + "bagoftricks-config-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"trickSettings": {"mixupAlfa": 1}}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TrainConfig.load(path)) { XCTAssertTrue("\($0)".contains("unknown trick setting \"mixupAlfa\""), "\($0)") }
    }

    func testAblationRowsAndFlagsComeFromTheRegistry() {
        let flags = TrickRegistry.settings.map(\.flag), keys = TrickRegistry.settings.map(\.key)
        XCTAssertEqual(Set(flags).count, flags.count)
        XCTAssertEqual(Set(keys).count, keys.count)
        for trick in TrickRegistry.registered {
            XCTAssertEqual(Ablation.rows.contains { $0.name == "+ " + trick.name }, trick.inAblation, trick.name)
        }
        XCTAssertEqual(Ablation.rows.last?.name, "+ distillation", "the row that takes --teacher")
        var c = TrainConfig()
        c[LabelSmoothing.eps] = 1.5
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--smoothing"), "\($0)") }
    }
}
