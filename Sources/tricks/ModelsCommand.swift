import ArgumentParser
import Models

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models: parameters and multiply-accumulates (the paper's FLOPs) at the default input size, and which ResNet variant each name is.",
        discussion: "Names mean what they mean in torchvision and timm: resnet50 is their ResNet-B (stride on the 3x3 conv; resnet50b is the same), resnet50a the paper's original, resnet50c/d the paper's tweaks; GluonCV's resnet50_v1, _v1b, _v1c, _v1d work too.")

    @Option(help: "Number of classes.")
    var classes = 1000

    @Option(help: "Input channels (1 for greyscale).")
    var inputChannels = 3

    @Argument(help: "Only models whose name contains this.")
    var filter: String?

    func run() throws {
        let names = ModelZoo.names.filter { name in filter.map { name.contains($0) } ?? true }
        guard !names.isEmpty else {
            throw CommandError("no model name contains '\(filter ?? "")'; `tricks models` lists them all")
        }
        print("| model | parameters | GMACs | input | variant |")
        print("|---|---:|---:|---:|---|")
        for name in names {
            let s = try ModelZoo.summary(name, classes: classes, inputChannels: inputChannels)
            print("| \(name) | \(grouped(s.parameters)) | \(format(Double(s.macs) / 1e9, digits: 2)) | \(s.inputSize)x\(s.inputSize) | \(ModelZoo.variant(name) ?? "") |")
        }
    }
}

/// 25557032 -> "25,557,032".
func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    return String(digits.enumerated().flatMap { i, c in (i > 0 && (digits.count - i) % 3 == 0 ? [","] : []) + [c] })
}
