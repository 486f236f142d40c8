import Foundation
import NN
import XCTest
@testable import Train

/// Settings files written before the word-valued settings were types still load, with the same
/// meaning; a word that is not a choice is an error that lists the choices.
final class SettingsCompatibilityTests: XCTestCase {
    func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name).path
    }

    func testAConfigWrittenBeforeTypedSettingsLoads() throws {
        let c = try TrainConfig.load(fixture("config-full-recipe-before-typed-settings.json"), writtenByARun: true)
        XCTAssertEqual(c.recipe, .full)
        XCTAssertNil(c.ablationRow)
        XCTAssertEqual(c.schedule, .cosine)
        XCTAssertEqual(c.precision, .bf16)
        XCTAssertEqual(c.initializer, .xavierUniform)
        XCTAssertEqual(c.device, .cpu)
        XCTAssertEqual(c.model, "cifar_resnet20d")
        XCTAssertEqual(c.learningRate, .per256(0.1))
        XCTAssertEqual(c[LabelSmoothing.eps], 0.1)
        // Written back, the words are the same words.
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(c.json.utf8)) as? [String: Any])
        XCTAssertEqual(json["schedule"] as? String, "cosine")
        XCTAssertEqual(json["precision"] as? String, "bf16")
        XCTAssertEqual(json["initializer"] as? String, "xavier")
        XCTAssertEqual(json["recipe"] as? String, "full")
    }

    /// Ablation rows were recorded in "recipe" before they had a key of their own.
    func testAnAblationRowRecordedAsTheRecipeLoads() throws {
        let c = try TrainConfig.load(fixture("config-ablation-row-before-typed-settings.json"), writtenByARun: true)
        XCTAssertNil(c.recipe)
        XCTAssertEqual(c.ablationRow, "3: + LR warmup")
        XCTAssertGreaterThan(c.warmupEpochs, 0)
        let results = try JSONDecoder().decode([Ablation.Result].self, from: Data(contentsOf: URL(fileURLWithPath: fixture("ablation-before-typed-settings.json"))))
        XCTAssertEqual(results.map(\.row), [3])
        XCTAssertEqual(results.first?.config.ablationRow, "3: + LR warmup")
        // The same settings as today's row 3: `ablate` does not train it again.
        var base = TrainConfig()
        (base.model, base.epochs, base.batchSize, base.trainPerClass, base.valPerClass) = ("cifar_resnet20", 1, 25, 10, 5)
        let today = Ablation.config(row: 2, base: base, seed: 0, teacher: nil)
        XCTAssertTrue(try XCTUnwrap(results.first).config.sameTraining(as: today), "\(today.json)")
    }

    func testAWordThatIsNotAChoiceListsTheChoices() throws {
        let path = NSTemporaryDirectory() + "/typed-settings-\(getpid()).json"
        for (key, word, choices) in [("sched", "cosin", "step, cosine or constant"), ("precision", "fp8", "fp32, fp16 or bf16"),
                                     ("device", "tpu", "cpu, cuda, auto or reference"), ("init", "he", "xavier or kaiming"),
                                     ("augment", "big", "small or imagenet"), ("recipe", "ful", "baseline, efficient, tweaked, full or strong")] {
            try Data("{\"\(key)\": \"\(word)\"}".utf8).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try TrainConfig.load(path)) { error in
                XCTAssertTrue("\(error)".contains("must be \(choices), got \"\(word)\""), "\(error)")
            }
        }
    }
}
