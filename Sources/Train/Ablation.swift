import Foundation
import NN

/// The paper's cumulative ablation (Tables 4-6) on the user's data: each row adds one trick to
/// the row above, every row with the same seeds, data order and epochs.
public enum Ablation {
    /// The steps of `Procedure.steps` that the ablation trains, in order: row 1 is the baseline
    /// recipe on the given config, each row after it adds one step to the row above.
    public static let rows: [ProcedureStep] = Procedure.steps.filter(\.inAblation)

    public struct Result: Codable, Sendable, Equatable {
        public var row: Int
        public var name: String
        public var seed: UInt64
        public var top1: Double
        public var top5: Double
        public var secondsPerEpoch: Double
        public var history: [EpochRecord]
        public var config: TrainConfig
        /// The images top-1 was measured on (nil in files from before it was recorded).
        public var validationImages: Int?
        /// The row above whose settings this row repeats (a trick that changes nothing for this
        /// model or machine, e.g. ResNet-D of LeNet): its result, not a run of its own.
        public var sameAsRow: Int?
    }

    /// The config of row `index` (0-based) for `base`, with `seed`.
    public static func config(row index: Int, base: TrainConfig, seed: UInt64, teacher: String?) -> TrainConfig {
        var c = base
        c[Distillation.teacher] = nil
        for i in 0...index { rows[i].apply(&c) }
        if rows[0...index].contains(where: \.needsTeacher) { c[Distillation.teacher] = teacher }
        c.seed = seed
        (c.recipe, c.ablationRow) = (nil, "\(index + 1): \(rows[index].name)")
        return c
    }

    /// Runs the chosen rows for each seed under `base.output`, skipping (row, seed) pairs already
    /// in `ablation.json` with the same settings, and rewrites the table, JSON and plot after
    /// every row. `log` gets progress lines.
    public static func run(base: TrainConfig, rows chosen: [Int], seeds: [UInt64], teacher: String?,
                           log: @escaping (String) -> Void) throws -> [Result] {
        let folder = base.output
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let jsonPath = folder + "/ablation.json"
        var results: [Result] = []
        if let data = FileManager.default.contents(atPath: jsonPath) {
            results = (try? JSONDecoder().decode([Result].self, from: data)) ?? []
        }
        for index in chosen {
            guard rows.indices.contains(index) else { throw TrainError("--rows", "row \(index + 1) does not exist (1...\(rows.count))") }
            if rows[index].needsTeacher && teacher == nil {
                log("row \(index + 1) (\(rows[index].name)) needs --teacher; skipped")
                continue
            }
            for seed in seeds {
                var c = config(row: index, base: base, seed: seed, teacher: teacher)
                c.output = folder + String(format: "/rows/%02d-seed%d", index + 1, seed)
                // A trick that changes no setting here (the row above's settings again) would
                // train the very same run: its result is the row above's, and says so.
                if index > 0, let above = results.first(where: { $0.row == index && $0.seed == seed }), above.config.sameTraining(as: c) {
                    var repeated = above
                    (repeated.row, repeated.name, repeated.config, repeated.sameAsRow) = (index + 1, rows[index].name, c, above.sameAsRow ?? index)
                    keep(repeated, in: &results)
                    log("row \(index + 1) seed \(seed) (\(rows[index].name)): changes no setting of row \(index) for \(c.model) here; "
                        + "not trained, row \(index)'s result repeated")
                    try write(results, to: folder)
                    continue
                }
                if let done = results.first(where: { $0.row == index + 1 && $0.seed == seed }), done.config.settingsEqual(c) {
                    log("row \(index + 1) seed \(seed) (\(rows[index].name)): done before, top-1 \(String(format: "%.2f", done.top1))%")
                    continue
                }
                // A row stopped part-way (Ctrl-C, the machine went away) continues from its last
                // epoch's checkpoint when it was started with these settings; anything else there
                // is an earlier, different run and is replaced.
                let continuing = FileManager.default.fileExists(atPath: c.output + "/last.safetensors")
                    && (try? TrainConfig.savedRun(in: c.output))??.settingsEqual(c) == true
                if !continuing { try removeEarlierRun(in: c.output) }
                log("row \(index + 1) seed \(seed): \(rows[index].name)\(continuing ? " (continuing from its last checkpoint)" : "")")
                let trainer = try Trainer(config: c, resume: continuing)
                trainer.log = { line in if line.hasPrefix("epoch ") || line.hasPrefix("resumed ") { log("  " + line) } }
                let state = try trainer.run()
                guard let last = state.history.last, state.epoch == c.epochs else { throw TrainError("ablation", "row \(index + 1) was interrupted") }
                let seconds = state.history.map(\.seconds).reduce(0, +) / Double(state.history.count)
                keep(Result(row: index + 1, name: rows[index].name, seed: seed, top1: last.top1, top5: last.top5,
                            secondsPerEpoch: seconds, history: state.history, config: c,
                            validationImages: trainer.validationLoader.sampleCount), in: &results)
                log(String(format: "  top-1 %.2f%%, top-5 %.2f%%, %.1f s/epoch", last.top1, last.top5, seconds))
                if let summary = seedSummary(results, row: index + 1) { log("  " + summary) }
                try write(results, to: folder)
            }
        }
        return results
    }

    /// `result` in place of any earlier one of its row and seed, the list kept in row, seed order.
    static func keep(_ result: Result, in results: inout [Result]) {
        results.removeAll { $0.row == result.row && $0.seed == result.seed }
        results.append(result)
        results.sort { ($0.row, $0.seed) < ($1.row, $1.seed) }
    }

    /// ablation.json, ablation.md and ablation.svg, each written atomically.
    static func write(_ results: [Result], to folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(results)), to: folder + "/ablation.json")
        try AtomicFile.write(Array(table(results).utf8), to: folder + "/ablation.md")
        try AtomicFile.write(Array(curvesSVG(results).utf8), to: folder + "/ablation.svg")
    }

    /// The rows of `chosen` that will train: the distillation row needs a teacher.
    public static func trained(_ chosen: [Int], teacher: Bool) -> [Int] {
        chosen.filter { rows.indices.contains($0) && (teacher || !rows[$0].needsTeacher) }
    }

    /// What this budget is too short for, said before the rows run (issue 16). Two rules of thumb,
    /// each with its reason:
    /// - fewer than `regularisationEpochs` epochs for the rows that regularise or start the network
    ///   as a shallower one (zero gamma, label smoothing, mixup): the paper measures them over 120
    ///   epochs (200 for mixup), and at 4 epochs here they cost 1-5 points each
    ///   (docs/ablation-fashion-mnist.md);
    /// - fewer than `largeBatchSteps` optimiser steps for the rows at 4x the batch: linear scaling
    ///   keeps accuracy over the paper's ~150,000 steps; 4x fewer updates in a short run cost
    ///   accuracy (5.6 points at 156 steps here).
    public static let regularisationEpochs = 30, largeBatchSteps = 2_000

    public static func budgetWarnings(epochs: Int, batchSize: Int, trainImages: Int, rows chosen: [Int]) -> [String] {
        var warnings: [String] = []
        let regularising = chosen.filter { rows.indices.contains($0) && rows[$0].paysInLongTraining }.map { rows[$0].name }
        if epochs < regularisationEpochs && !regularising.isEmpty {
            warnings.append("\(epochs) epoch(s) is short for \(regularising.joined(separator: ", ")): the paper trains 120 epochs "
                            + "(200 with mixup), and these pay only in long training; under \(regularisationEpochs) epochs expect "
                            + "them to cost accuracy (at 4 epochs they cost 1-5 points each, docs/ablation-fashion-mnist.md)")
        }
        // Every row from the 4x batch on trains at it (the rows are cumulative).
        let firstLarge = rows.firstIndex(where: \.largeBatch) ?? rows.count
        let largeBatch = chosen.filter { $0 >= firstLarge && rows.indices.contains($0) }
        let steps = epochs * (trainImages / max(1, 4 * batchSize))
        if !largeBatch.isEmpty && steps < largeBatchSteps {
            warnings.append("rows \(largeBatch.map { "\($0 + 1)" }.joined(separator: ",")) train at batch \(4 * batchSize) (4x): "
                            + "\(steps) optimiser steps in \(epochs) epoch(s) of \(trainImages) images. Linear scaling keeps accuracy "
                            + "over many steps (the paper: ~150,000); under \(largeBatchSteps) the 4x fewer updates cost accuracy "
                            + "(5.6 points at 156 steps, docs/ablation-fashion-mnist.md)")
        }
        return warnings
    }

    /// "row 3: top-1 91.20 over seeds 0,1 (90.95-91.45)", once a row has more than one seed.
    static func seedSummary(_ results: [Result], row: Int) -> String? {
        let runs = results.filter { $0.row == row }
        guard runs.count > 1 else { return nil }
        let top1 = runs.map(\.top1)
        return String(format: "row %d: top-1 %.2f over seeds %@ (%.2f-%.2f)", row, top1.reduce(0, +) / Double(top1.count),
                      runs.map { "\($0.seed)" }.joined(separator: ","), top1.min()!, top1.max()!)
    }

    /// Markdown: one line per row, the mean over its seeds, and the change from the row above.
    public static func table(_ results: [Result]) -> String {
        var lines = ["| # | row | seeds | top-1 (%) | top-5 (%) | s/epoch | top-1 vs row above | noise (1 s.e.) |",
                     "|---|---|---|---|---|---|---|---|"]
        var previous: (row: Int, top1: Double, images: Int?)?
        for row in Set(results.map(\.row)).sorted() {
            let runs = results.filter { $0.row == row }
            let top1 = runs.map(\.top1).reduce(0, +) / Double(runs.count), top5 = runs.map(\.top5).reduce(0, +) / Double(runs.count)
            let seconds = runs.map(\.secondsPerEpoch).reduce(0, +) / Double(runs.count)
            let spread = runs.count > 1 ? String(format: " (%.2f-%.2f)", runs.map(\.top1).min()!, runs.map(\.top1).max()!) : ""
            let images = runs[0].validationImages.map { $0 * runs.count }
            var delta = previous.map { String(format: "%+.2f", top1 - $0.top1) } ?? ""
            if let same = runs[0].sameAsRow, runs.allSatisfy({ $0.sameAsRow == same }) { delta = "same settings as row \(same): not trained" }
            // Two top-1s measured on n images each differ by chance with a standard error of
            // sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n) (binomial, seeds pooled): a difference
            // within about twice that is noise.
            var noise = ""
            if let above = previous, let n = images, let m = above.images, n > 0, m > 0 {
                let p: Double = top1 / 100, q: Double = above.top1 / 100
                let variance: Double = p * (1 - p) / Double(n) + q * (1 - q) / Double(m)
                noise = String(format: "±%.2f", 100 * variance.squareRoot())
            }
            let seedList = runs.map { "\($0.seed)" }.joined(separator: ",")
            let cells: [String] = ["\(row)", runs[0].name, seedList, String(format: "%.2f", top1) + spread, String(format: "%.2f", top5),
                                   String(format: "%.1f", seconds), delta, noise]
            lines.append("| " + cells.joined(separator: " | ") + " |")
            previous = (row, top1, images)
        }
        if let n = results.first?.validationImages {
            lines.append("\nTop-1 is measured on \(n) validation images per seed; the noise column is the standard error of the "
                         + "difference from the row above by chance alone (binomial): differences within about twice it are not evidence.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Validation top-1 against epochs, one line per row (seed 0, or the first seed run).
    public static func curvesSVG(_ results: [Result]) -> String {
        let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000"]
        let shown = Set(results.map(\.row)).sorted().compactMap { row in results.first { $0.row == row } }
        let values = shown.flatMap { $0.history.map(\.top1) }
        let (low, high) = (max(0, (values.min() ?? 0) - 1), min(100, (values.max() ?? 100) + 1))
        let epochs = max(2, shown.map(\.history.count).max() ?? 2)
        let (w, h, left, top) = (560.0, 320.0, 50.0, 30.0)
        func px(_ e: Int) -> Double { left + Double(e - 1) / Double(epochs - 1) * w }
        func py(_ v: Double) -> Double { top + h - (v - low) / max(high - low, 1e-9) * h }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + w + 260))\" height=\"\(Int(top + h + 50))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"\(left)\" y=\"18\" font-size=\"13\">validation top-1 (%) by epoch, one line per ablation row</text>\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#999\"/>\n"
        for t in 0...4 {
            let v = low + (high - low) * Double(t) / 4
            svg += "<text x=\"\(left - 4)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.1f", v))</text>\n"
        }
        for e in 1...epochs { svg += "<text x=\"\(px(e))\" y=\"\(top + h + 14)\" text-anchor=\"middle\">\(e)</text>\n" }
        svg += "<text x=\"\(left + w / 2)\" y=\"\(top + h + 30)\" text-anchor=\"middle\">epoch</text>\n"
        for (i, result) in shown.enumerated() {
            let color = palette[i % palette.count]
            let points = result.history.enumerated().map { "\(px($0.offset + 1)),\(py($0.element.top1))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(points)\"/>\n"
            // A marker per epoch: a 1-epoch row is a single point, which a line alone does not draw.
            for (e, record) in result.history.enumerated() {
                svg += "<circle cx=\"\(px(e + 1))\" cy=\"\(py(record.top1))\" r=\"2.5\" fill=\"\(color)\"/>\n"
            }
            svg += "<text x=\"\(left + w + 10)\" y=\"\(top + 12 + Double(i) * 15)\" fill=\"\(color)\">\(result.row). \(result.name.replacingOccurrences(of: "&", with: "&amp;"))</text>\n"
        }
        return svg + "</svg>\n"
    }
}

extension TrainConfig {
    /// Would train the same run as `other` (the same settings but for the recipe's name, where
    /// output goes and how it is printed and computed).
    func sameTraining(as other: TrainConfig) -> Bool {
        var (a, b) = (self, other)
        (a.recipe, b.recipe, a.ablationRow, b.ablationRow) = (nil, nil, nil, nil)
        return a.settingsEqual(b)
    }

    /// Equal but for where the output goes, how progress is printed and how many threads compute
    /// and load (the data order and augmentation do not depend on them).
    func settingsEqual(_ other: TrainConfig) -> Bool {
        var (a, b) = (self, other)
        (a.output, b.output, a.logEvery, b.logEvery) = ("", "", 0, 0)
        (a.threads, b.threads, a.workers, b.workers) = (nil, nil, 1, 1)
        return a == b
    }
}
