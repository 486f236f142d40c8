import ArgumentParser
import Models

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models: parameters and multiply-accumulates (the paper's FLOPs) at the default input size, and which ResNet variant each name is.",
        discussion: "Names mean what they mean in torchvision and timm: resnet50 is their ResNet-B (stride on the 3x3 conv; resnet50b is the same), resnet50a the paper's original, resnet50c/d the paper's tweaks; GluonCV's resnet50_v1, _v1b, _v1c, _v1d work too.")

    @Option(help: "Number of classes (default: 1000, ImageNet's; the segmentation models: 21, Pascal VOC's, as torchvision's).")
    var classes: Int?

    @Option(help: "Input channels (1 for greyscale).")
    var inputChannels = 3

    @Argument(help: "Only models whose name contains this.")
    var filter: String?

    func run() throws {
        let chosen = { (name: String) in filter.map { name.contains($0) } ?? true }
        let (names, segmentation) = (ModelZoo.names.filter(chosen), ModelZoo.segmentationNames.filter(chosen))
        let detection = ModelZoo.detectionNames.filter(chosen)
        guard !names.isEmpty || !segmentation.isEmpty || !detection.isEmpty else {
            throw CommandError("no model name contains '\(filter ?? "")'; `tricks models` lists them all")
        }
        if !names.isEmpty {
            print("Classification (`tricks train`), \(classes ?? 1000) classes:\n")
            try table(names, classes: classes ?? 1000)
        }
        if !segmentation.isEmpty {
            print("\(names.isEmpty ? "" : "\n")Segmentation (`tricks segment train`): FCN with the auxiliary head, \(classes ?? 21) classes:\n")
            try table(segmentation, classes: classes ?? 21)
        }
        if !detection.isEmpty {
            print("\(names.isEmpty && segmentation.isEmpty ? "" : "\n")Detection: Faster R-CNN with FPN (frozen backbone BatchNorm; "
                  + "`fasterrcnn_` and any ResNet's name and `_fpn`), \(classes ?? 91) classes with the background, GMACs of one blank image:\n")
            try table(detection, classes: classes ?? 91)
        }
    }

    func table(_ names: [String], classes: Int) throws {
        print("| model | parameters | GMACs | input | variant |")
        print("|---|---:|---:|---:|---|")
        for name in names {
            let s = try ModelZoo.summary(name, classes: classes, inputChannels: inputChannels, auxiliaryHead: name.hasPrefix("fcn_"))
            let variant = ModelZoo.variant(name) ?? ""
            print("| \(name) | \(grouped(s.parameters)) | \(format(Double(s.macs) / 1e9, digits: 2)) | \(s.inputSize)x\(s.inputSize) | \(variant) |")
        }
    }
}

/// 25557032 -> "25,557,032".
func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    return String(digits.enumerated().flatMap { i, c in (i > 0 && (digits.count - i) % 3 == 0 ? [","] : []) + [c] })
}
