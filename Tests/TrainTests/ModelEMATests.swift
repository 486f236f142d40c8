import Data
import Foundation
import Models
import NN
import Tensors
import Train
import XCTest

/// EMA of weights (timm's ModelEmaV2) as a plug-in trick: the formula, the evaluated and saved
/// model, and an exact resume.
final class ModelEMATests: XCTestCase {
    func testEachStepMovesTheAverageByOneMinusDecay() throws {
        let model = try ModelZoo.make("lenet5", classes: 3, inputChannels: 1)
        try model.initialize(seed: 1)
        let ema = try ModelEMA(of: model, copy: ModelZoo.make("lenet5", classes: 3, inputChannels: 1), decay: 0.75)
        let start = try model.namedParameters().map { try $0.1.scalars }
        XCTAssertEqual(try ema.module.namedParameters().map { try $0.1.scalars }, start, "starts at the model's weights")
        for (_, p) in model.namedParameters() { try p.assign(p.scalars.map { $0 + 1 }) }
        try ema.update(from: model)
        for ((key, average), initial) in zip(ema.module.namedParameters(), start) {
            let expected = initial.map { 0.75 * $0 + 0.25 * ($0 + 1) }
            for (a, e) in zip(try average.scalars, expected) { XCTAssertEqual(a, e, accuracy: 1e-6, key) }
        }
    }

    func testTheAverageIsEvaluatedSavedAndResumedExactly() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var c = TrainConfig()
        (c.model, c.trainPerClass, c.valPerClass, c.batchSize, c.epochs, c.threads, c.logEvery) = ("lenet5", 20, 5, 25, 2, 2, 1000)
        c[ModelEMA.decaySetting] = 0.9
        c.output = NSTemporaryDirectory() + "bagoftricks-ema-\(UUID().uuidString)"
        var interrupted = c
        interrupted.output += "-interrupted"
        defer { for path in [c.output, interrupted.output] { try? FileManager.default.removeItem(atPath: path) } }
        let whole = try Trainer(config: c)
        whole.log = { _ in }
        _ = try whole.run()

        // `best` holds the average (the evaluated model), `last` the trained weights, and the
        // state file the average's values under "EMA.<key>".
        let (_, _, _, saved) = try Checkpoint.loadState(whole.lastCheckpoint)
        let (best, _) = try Checkpoint.loadModel(whole.bestCheckpoint)
        let (last, _) = try Checkpoint.loadModel(whole.lastCheckpoint)
        let (key, _) = try XCTUnwrap(whole.model.namedParameters().first)
        let average = try XCTUnwrap(saved["EMA." + key])
        XCTAssertEqual(average, try XCTUnwrap(best.namedParameters().first { $0.0 == key }).1.scalars)
        XCTAssertNotEqual(average, try XCTUnwrap(last.namedParameters().first { $0.0 == key }).1.scalars)

        // Stopped in the middle of epoch 2 and resumed: the same average and accuracy.
        let first = try Trainer(config: interrupted)
        first.log = { _ in }
        let steps = first.trainLoader.batchCount
        first.afterStep = { state in if state.iteration == steps + steps / 2 { Trainer.requestStop() } }
        XCTAssertEqual(try first.run().batch, steps / 2)
        let resumed = try Trainer(config: interrupted, resume: true)
        resumed.log = { _ in }
        _ = try resumed.run()
        let (a, _, _, emaA) = try Checkpoint.loadState(resumed.lastCheckpoint)
        let (b, _, _, emaB) = try Checkpoint.loadState(whole.lastCheckpoint)
        XCTAssertEqual(emaA, emaB, "the average continues exactly after a resume")
        XCTAssertEqual(a.history.map(\.top1), b.history.map(\.top1))
    }
}
