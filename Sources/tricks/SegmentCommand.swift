import ArgumentParser
import Data
import Foundation
import Models
import NN
import Tensors
import Train

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Semantic segmentation with FCN on the zoo's ResNets (the paper's section 6): train and eval.",
        discussion: "--data scenes (the default) is built in: 2-4 Fashion-MNIST garments on a dark canvas, a class per pixel "
            + "(0 = background, 11 classes), training scenes from the training images, validation scenes from the test images. "
            + "A folder in Pascal VOC 2012's layout (JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/train.txt "
            + "and val.txt; 255 ignored) or ADE20K's (images/ and annotations/, each with training/ and validation/; 0 ignored) "
            + "works too: give --base-size and --crop-size for its photos (torchvision's VOC recipe: 520 and 480).",
        subcommands: [SegmentTrainCommand.self, SegmentEvalCommand.self])
}

struct SegmentTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train FCN; checkpoints, config.json and metrics.jsonl (pixel accuracy, mIoU) go to --output.")

    @Option(help: "fcn_ and a ResNet of `tricks models` (default: fcn_cifar_resnet20; from --backbone's model when given).")
    var model: String?
    @Option(help: "A classification checkpoint (`tricks train`) whose weights start the backbone.")
    var backbone: String?
    @Option(help: "scenes (built-in), or a Pascal VOC or ADE20K folder.") var data = "scenes"
    @Option(help: "Training scenes.") var trainScenes = SegmentationConfig().trainScenes
    @Option(help: "Validation scenes.") var valScenes = SegmentationConfig().valScenes
    @Option(help: "Scene side; evaluation size; training rescales to 0.5-2x of it.") var baseSize = SegmentationConfig().baseSize
    @Option(help: "Training crop side.") var cropSize = SegmentationConfig().cropSize
    @Option(help: "Epochs.") var epochs = SegmentationConfig().epochs
    @Option(name: [.customShort("b"), .long], help: "Images per step.") var batchSize = SegmentationConfig().batchSize
    @Option(help: "Learning rate at the start of the poly (power 0.9) schedule.") var lr = SegmentationConfig().lr
    @Option(help: "Weight of the auxiliary head's loss (0: no auxiliary head).") var auxWeight = SegmentationConfig().auxWeight
    @Option(name: [.customLong("wd"), .long], help: "Weight decay.") var weightDecay = SegmentationConfig().weightDecay
    @Option(help: "fp32 or bf16 (native, on CPUs with AVX-512 BF16).") var precision = "fp32"
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "oneDNN threads (default: all cores).") var threads: Int?
    @Option(name: [.customShort("j"), .long], help: "Data loading threads.") var workers = 2
    @Option(help: "Output folder.") var output = SegmentationConfig().output
    @Option(help: "Progress line every N steps when output is not a terminal.") var logEvery = 50
    @Flag(help: "Continue the run in --output from its last checkpoint.") var resume = false
    @Flag(help: "Start again in an --output folder that holds an earlier run.") var overwrite = false

    func run() throws {
        var c = SegmentationConfig()
        if let backbone {
            guard let info = try? Checkpoint.loadModel(backbone).1 else {
                throw CommandError("--backbone: \(backbone) is not a checkpoint written by `tricks train`")
            }
            c.model = "fcn_" + info.model
        }
        if let model { c.model = model }
        c.data = data
        (c.backbone, c.trainScenes, c.valScenes, c.baseSize, c.cropSize, c.epochs, c.batchSize) =
            (backbone, trainScenes, valScenes, baseSize, cropSize, epochs, batchSize)
        (c.lr, c.auxWeight, c.weightDecay, c.precision, c.seed, c.threads, c.workers, c.output, c.logEvery) =
            (lr, auxWeight, weightDecay, precision, seed, threads, workers, output, logEvery)
        let existing = ["last.safetensors", "metrics.jsonl"].filter { FileManager.default.fileExists(atPath: output + "/" + $0) }
        if !resume && !existing.isEmpty {
            guard overwrite else {
                throw CommandError("\(output) already holds a run (\(existing.joined(separator: ", "))): continue it with --resume, "
                                   + "start again there with --overwrite, or choose another --output")
            }
            for name in ["last.safetensors", "last.state.safetensors", "best.safetensors", "best.state.safetensors", "metrics.jsonl"] {
                try? FileManager.default.removeItem(atPath: output + "/" + name)
            }
        }
        let trainer = try SegmentationTrainer(config: c, resume: resume)
        let state = try trainer.run()
        guard let last = state.history.last else { return }
        print(String(format: "final: mIoU %.2f%%, pixel accuracy %.2f%% (best mIoU %.2f%%) after %d epochs; checkpoints in %@",
                     last.meanIoU, last.pixelAccuracy, state.bestMeanIoU, state.epoch, output))
    }
}

struct SegmentEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Pixel accuracy, mIoU and each class's IoU of a segmentation checkpoint on the validation scenes.")

    @Option(help: "A checkpoint written by `tricks segment train`.") var checkpoint: String
    @Option(help: "Validation scenes.") var valScenes = SegmentationConfig().valScenes
    @Option(name: [.customShort("b"), .long], help: "Images per batch.") var batchSize = 16

    func run() throws {
        let (entries, metadata) = try SafeTensors.read(checkpoint)
        guard let json = metadata["tricks.model_info"], let info = try? JSONDecoder().decode(ModelInfo.self, from: Data(json.utf8)),
              info.augment == "segmentation" else {
            throw CommandError("\(checkpoint) is not a checkpoint written by `tricks segment train`")
        }
        let hasAux = entries.keys.contains { $0.hasPrefix("aux_classifier.") }
        guard let model = try ModelZoo.make(info.model, classes: info.classes.count, inputChannels: info.inputChannels,
                                            auxiliaryHead: hasAux) as? FCN else { throw CommandError("\(info.model) is not an FCN") }
        try model.loadStateDict(entries, source: checkpoint)
        let size = info.inputSize ?? 96
        let scenes = try GarmentScenes.builtIn(train: false, count: valScenes, size: size)
        let loader = try DataLoader(dataset: SegmentationSamples(scenes),
                                    transform: PackedJointTransform(Pipelines.segmentationEval(baseSize: size,
                                                                                               normalize: Normalize(mean: info.mean, std: info.std))),
                                    batchSize: batchSize, shuffle: false)
        let evaluation = try evaluateSegmentation(model, loader: loader, classes: info.classes.count)
        print(String(format: "%@ on %d scenes: pixel accuracy %.2f%%, mIoU %.2f%%, loss %.4f", info.model, scenes.count,
                     100 * evaluation.pixelAccuracy, 100 * evaluation.meanIoU, evaluation.loss))
        print("| class | IoU (%) |\n|---|---:|")
        for (name, iou) in zip(info.classes, evaluation.confusion.iou) {
            print("| \(name) | \(iou.map { String(format: "%.2f", 100 * $0) } ?? "-") |")
        }
    }
}
