import ArgumentParser

@main
struct Tricks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tricks",
        abstract: "Train image classifiers with the Bag of Tricks (He et al., CVPR 2019) on oneDNN.",
        version: "tricks 0.2 (BagOfTricks; oneDNN CPU backend, reference backend)",
        subcommands: [TrainCommand.self, AblateCommand.self, FinetuneCommand.self, EvalCommand.self, PredictCommand.self, ModelsCommand.self, RecipesCommand.self, StatsCommand.self, Bench.self])
}
