import ArgumentParser
import Data
import Foundation
import Train

struct AblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "The paper's cumulative ablation on your data: one training run per row; writes ablation.md, ablation.json and ablation.svg to --output.",
        discussion: "Rows (each adds one trick to the row above; --rows picks some):\n"
            + Ablation.rows.enumerated().map { "  \($0.offset + 1). \($0.element.name)" }.joined(separator: "\n"))

    @OptionGroup var train: TrainCommand

    @Option(help: "Rows to run, 1-based and comma-separated (default: all; the list is above).")
    var rows: String?

    @Option(help: "Seeds, comma-separated; each row runs once per seed.")
    var seeds = "0"

    func run() throws {
        guard ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == nil else {
            throw CommandError("ablate runs its rows one after another in one process; run it without mpirun")
        }
        let base = try train.resolved()
        let chosen = try rows.map { list in
            try list.split(separator: ",").map { part -> Int in
                guard let n = Int(part.trimmingCharacters(in: .whitespaces)) else { throw CommandError("--rows: not a number: \(part)") }
                return n - 1
            }
        } ?? Array(Ablation.rows.indices)
        let seedList = try seeds.split(separator: ",").map { part -> UInt64 in
            guard let n = UInt64(part.trimmingCharacters(in: .whitespaces)) else { throw CommandError("--seeds: not a number: \(part)") }
            return n
        }
        let trained = Ablation.trained(chosen, teacher: base[Distillation.teacher] != nil)
        print("rows:")
        for (i, row) in Ablation.rows.enumerated() {
            print("  \(i + 1). \(row.name)" + (trained.contains(i) ? "" : chosen.contains(i) ? " (needs --teacher: not run)" : " (not run)"))
        }
        var (train, _) = try base.data.load(minShortSide: nil)
        if let n = base.trainPerClass { train = Subset(train, perClass: n, seed: base.seed) }
        for warning in Ablation.budgetWarnings(epochs: base.epochs, batchSize: base.batchSize, trainImages: train.count, rows: trained) {
            print("warning: " + warning)
        }
        let results = try Ablation.run(base: base, rows: chosen, seeds: seedList, teacher: base[Distillation.teacher]) { print($0); fflush(nil) }
        print(Ablation.table(results))
        print("table, JSON and plot in \(base.output)")
    }
}
