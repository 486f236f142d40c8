import ArgumentParser
import Foundation

/// For weights written elsewhere (a torchvision or timm state dict saved with
/// `safetensors.torch.save_file`): which architecture they are, and the class names.
struct ForeignWeightsOptions: ParsableArguments {
    @Option(help: "The architecture, for a state dict not written by `tricks train` (see `tricks models`; e.g. resnet50 for torchvision's).")
    var model: String?

    @Option(help: "A text file of class names, one per line in output order (default: the output indices).")
    var classes: String?

    func classNames() throws -> [String]? {
        guard let classes else { return nil }
        guard let text = try? String(contentsOfFile: classes, encoding: .utf8) else { throw CommandError("--classes: cannot read \(classes)") }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw CommandError("--classes: \(classes) holds no names") }
        return names
    }
}
