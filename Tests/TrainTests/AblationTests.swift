import Data
import Foundation
import Train
import XCTest

/// `tricks ablate` for long budgets (issue 16): it says when a budget is too short for the rows
/// it runs, and a row stopped part-way continues instead of starting again.
final class AblationTests: XCTestCase {
    /// LeNet on 20 Fashion-MNIST images per class (5 to validate), batch 25, in a new folder.
    func tinyBase(epochs: Int, name: String) -> TrainConfig {
        var base = TrainConfig()
        (base.model, base.trainPerClass, base.valPerClass, base.batchSize, base.epochs, base.threads, base.logEvery) =
            ("lenet5", 20, 5, 25, epochs, 2, 1000)
        base.output = NSTemporaryDirectory() + "bagoftricks-ablation-\(name)-\(UUID().uuidString)"
        return base
    }

    /// Recipes and rows come from one list (`Procedure.steps`): each recipe up to `full` is the
    /// ablation's rows through its last step, but at the user's batch (the 4x batch is a row only).
    func testRecipesAreTheAblationsRowsUpToTheirLastStep() throws {
        var base = TrainConfig()
        (base.model, base.epochs) = ("cifar_resnet20", 24)
        for recipe in [Recipe.baseline, .efficient, .tweaked, .full] {
            var fromRecipe = base
            recipe.apply(to: &fromRecipe)
            let last = try XCTUnwrap(Ablation.rows.lastIndex { $0.recipe == recipe }, "\(recipe)")
            var fromRows = Ablation.config(row: last, base: base, seed: 0, teacher: nil)
            if last > 0 { fromRows.batchSize /= 4 }
            (fromRecipe.recipe, fromRows.ablationRow) = (nil, nil)
            XCTAssertEqual(fromRecipe, fromRows, "\(recipe)")
        }
        // The rows with the properties the budget warnings and the teacher read.
        XCTAssertEqual(Ablation.rows.filter(\.paysInLongTraining).map(\.name), ["+ zero gamma", "+ label smoothing", "+ mixup"])
        XCTAssertEqual(Ablation.rows.filter(\.largeBatch).map(\.name), ["+ linear scaling, 4x batch"])
        XCTAssertEqual(Ablation.rows.filter(\.needsTeacher).map(\.name), ["+ distillation"])
        XCTAssertEqual(Procedure.steps.filter { $0.recipe == .strong }.map(\.name), ["+ auto-augment", "+ random erasing", "+ CutMix"])
    }

    func testBudgetWarningsNameTheRowsAndTheReason() {
        let all = Array(Ablation.rows.indices)
        // The short ablation of docs/ablation-fashion-mnist.md: 4 epochs, 10,000 images, batch 64.
        let short = Ablation.budgetWarnings(epochs: 4, batchSize: 64, trainImages: 10_000, rows: all)
        XCTAssertEqual(short.count, 2, "\(short)")
        XCTAssertTrue(short[0].contains("+ zero gamma, + label smoothing, + mixup") && short[0].contains("120 epochs"), short[0])
        XCTAssertTrue(short[1].contains("batch 256 (4x): 156 optimiser steps"), short[1])
        // Issue 16's budget: 30 epochs of the 60,000 images at batch 128 (3,510 steps at 512).
        XCTAssertEqual(Ablation.budgetWarnings(epochs: 30, batchSize: 128, trainImages: 60_000, rows: all), [])
        // Only the rows chosen count: the baseline alone needs no warning; mixup alone names mixup.
        XCTAssertEqual(Ablation.budgetWarnings(epochs: 4, batchSize: 64, trainImages: 10_000, rows: [0]), [])
        let mixup = Ablation.budgetWarnings(epochs: 20, batchSize: 128, trainImages: 60_000, rows: [9])
        XCTAssertEqual(mixup.count, 1, "\(mixup)")
        XCTAssertTrue(mixup[0].hasPrefix("20 epoch(s) is short for + mixup:"), mixup[0])
    }

    /// The row's checkpoint is there but its result is not (the process was stopped between the
    /// two writes, or during a later epoch): the next run continues the row from its checkpoint.
    func testARowWithACheckpointButNoResultContinues() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var base = tinyBase(epochs: 2, name: "continue")
        defer { try? FileManager.default.removeItem(atPath: base.output) }
        var lines: [String] = []
        let first = try Ablation.run(base: base, rows: [0], seeds: [0], teacher: nil) { lines.append($0) }
        try FileManager.default.removeItem(atPath: base.output + "/ablation.json")

        lines = []
        base.threads = 1  // how many threads compute does not make it another run
        let second = try Ablation.run(base: base, rows: [0], seeds: [0], teacher: nil) { lines.append($0) }
        XCTAssertTrue(lines.contains("row 1 seed 0: baseline (continuing from its last checkpoint)"), "\(lines)")
        XCTAssertEqual(second.first?.top1, first.first?.top1)
        XCTAssertEqual(second.first?.history.count, 2)
        let metrics = try String(contentsOfFile: base.output + "/rows/01-seed0/metrics.jsonl", encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").count, 2, "no epoch trained twice")

        // Other settings in the row's folder are an earlier, different run: replaced, not continued.
        try FileManager.default.removeItem(atPath: base.output + "/ablation.json")
        base.epochs = 1
        lines = []
        _ = try Ablation.run(base: base, rows: [0], seeds: [0], teacher: nil) { lines.append($0) }
        XCTAssertTrue(lines.contains("row 1 seed 0: baseline"), "\(lines)")
        let replaced = try String(contentsOfFile: base.output + "/rows/01-seed0/metrics.jsonl", encoding: .utf8)
        XCTAssertEqual(replaced.split(separator: "\n").count, 1)
    }

    /// Item 16 of issue 27: a row that changes no setting (ResNet-D of LeNet) is not trained and
    /// says whose result it repeats; the table gives each difference's noise; a row that will
    /// not run (distillation without a teacher) is in no budget warning.
    func testARowThatChangesNothingSaysSoAndDifferencesCarryTheirNoise() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var base = tinyBase(epochs: 1, name: "same")
        defer { try? FileManager.default.removeItem(atPath: base.output) }
        let resnetD = try XCTUnwrap(Ablation.rows.firstIndex { $0.name == "+ ResNet-D" })
        var lines: [String] = []
        let results = try Ablation.run(base: base, rows: [resnetD - 1, resnetD], seeds: [0], teacher: nil) { lines.append($0) }
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(results[1].sameAsRow, resnetD, "row \(resnetD + 1) repeats row \(resnetD)")
        XCTAssertEqual(results[1].top1, results[0].top1)
        XCTAssertTrue(lines.contains { $0.contains("changes no setting of row \(resnetD) for lenet5 here; not trained") }, "\(lines)")
        XCTAssertEqual(results[0].validationImages, 50)
        let table = Ablation.table(results)
        XCTAssertTrue(table.contains("same settings as row \(resnetD): not trained"), table)
        XCTAssertTrue(table.contains("measured on 50 validation images"), table)

        // The noise of a difference: 80% and 90% on 50 images each differ by chance with a
        // standard error of sqrt(0.8 x 0.2 / 50 + 0.9 x 0.1 / 50) = 7.07 points.
        var (first, second) = (results[0], results[0])
        (first.top1, second.row, second.top1, second.sameAsRow) = (80, results[0].row + 1, 90, nil)
        let noisy = Ablation.table([first, second])
        XCTAssertTrue(noisy.contains("| +10.00 | ±7.07 |"), noisy)

        let all = Array(Ablation.rows.indices)
        XCTAssertEqual(Ablation.trained(all, teacher: false), Array(all.dropLast()), "distillation needs a teacher")
        let warnings = Ablation.budgetWarnings(epochs: 4, batchSize: 64, trainImages: 10_000, rows: Ablation.trained(all, teacher: false))
        XCTAssertFalse(warnings[1].contains(",\(Ablation.rows.count) train"), warnings[1])
    }
}
