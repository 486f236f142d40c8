import ArgumentParser
import Data

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Per-channel mean and standard deviation of a dataset (values in [0, 255]), for --mean/--std.")

    @OptionGroup var data: DataOptions

    func run() throws {
        let dataset = try data.trainingSet()
        print("\(data.description): \(dataset.summary)")
        let (mean, std) = try channelStatistics(dataset)
        print("mean: \(mean.map { format(Double($0), digits: 3) }.joined(separator: ","))")
        print("std:  \(std.map { format(Double($0), digits: 3) }.joined(separator: ","))")
    }
}
