import ArgumentParser
import Train

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Transfer learning: start from a checkpoint's weights with a new classifier head for --data's classes.")

    @Option(name: .customLong("from"), help: "Weights written by `tricks train`, or a torchvision/timm state dict (safetensors) with --model.")
    var from: String

    @Option(help: "Train only the new head for this many epochs first.")
    var freezeEpochs = 0

    @OptionGroup var train: TrainCommand

    func run() throws {
        var config = try train.resolved()
        let (_, info) = try Checkpoint.loadModel(from, model: train.model)
        config.model = info.model
        config.finetuneFrom = from
        config.freezeEpochs = freezeEpochs
        try train.run(config)
    }
}
