import ArgumentParser
import Diagnostics

@main
struct Tricks: ParsableCommand {
    static let versionNumber = "0.2"
    static let configuration = CommandConfiguration(
        commandName: "tricks",
        abstract: "Train image classifiers with the Bag of Tricks (He et al., CVPR 2019) on oneDNN.",
        version: "tricks \(versionNumber) (BagOfTricks; oneDNN CPU backend, CUDA backend, reference backend)",
        subcommands: [TrainCommand.self, AblateCommand.self, FinetuneCommand.self, EvalCommand.self, PredictCommand.self, SegmentCommand.self, DetectCommand.self, ExportCommand.self, EnvCommand.self, SelfTestCommand.self, ModelsCommand.self, RecipesCommand.self, StatsCommand.self, Bench.self])

    /// ArgumentParser's `help NAME` prints the general help and succeeds for a NAME that is no
    /// command; a typo there is an error like any other.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        var names: [String] = []
        for command in configuration.subcommands { names.append(command._commandName) }
        if arguments.first == "help", arguments.count > 1, !names.contains(arguments[1]) {
            exit(withError: ValidationError("unknown command '\(arguments[1])' (the commands: \(names.joined(separator: ", ")))"))
        }
        // `TRICKS_CUDA_EMULATION=1 tricks ... --device cuda` runs the CUDA backend without a GPU (docs/gpu.md).
        CUDAHostEmulation.register()
        Tricks.main(arguments)
    }
}

/// A mistake in what the user asked for, found while running a command: printed as
/// `Error: <message>` and a non-zero exit, without ArgumentParser's top-level usage (which
/// a `ValidationError` thrown from `run()` would add, and which names no subcommand's flags).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
