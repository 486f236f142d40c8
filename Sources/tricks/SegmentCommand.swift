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
        abstract: "Semantic segmentation with FCN on the zoo's ResNets (the paper's section 6): train, eval and predict.",
        discussion: "--data scenes (the default) is built in: 2-4 Fashion-MNIST garments on a dark canvas, a class per pixel "
            + "(0 = background, 11 classes), training scenes from the training images, validation scenes from the test images. "
            + "A folder in Pascal VOC 2012's layout (JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/train.txt "
            + "and val.txt; 255 ignored) or ADE20K's (images/ and annotations/, each with training/ and validation/; 0 ignored) "
            + "works too: give --base-size and --crop-size for its photos (torchvision's VOC recipe: 520 and 480).",
        subcommands: [SegmentTrainCommand.self, SegmentEvalCommand.self, SegmentPredictCommand.self])
}

/// The settings of a segmentation run when no flag gives them, for `--help`.
private let segmentationDefaults = SegmentationConfig()

struct SegmentTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train FCN; checkpoints, config.json and metrics.jsonl (pixel accuracy, mIoU) go to --output.")

    @Option(help: "fcn_ and a ResNet of `tricks models` (default: \(segmentationDefaults.model); from --backbone's model when given).")
    var model: String?
    @Option(help: "A classification checkpoint (`tricks train`) whose weights start the backbone.")
    var backbone: String?
    @Option(help: "scenes (built-in), or a Pascal VOC or ADE20K folder (default: \(segmentationDefaults.data)).") var data: String?
    @Option(help: "Training scenes (default: \(segmentationDefaults.trainScenes)).") var trainScenes: Int?
    @Option(help: "Validation scenes (default: \(segmentationDefaults.valScenes)).") var valScenes: Int?
    @Option(help: "Scene side; evaluation size; training rescales to 0.5-2x of it (default: \(segmentationDefaults.baseSize)).") var baseSize: Int?
    @Option(help: "Training crop side (default: \(segmentationDefaults.cropSize)).") var cropSize: Int?
    @Option(help: "Epochs (default: \(segmentationDefaults.epochs)).") var epochs: Int?
    @Option(name: [.customShort("b"), .long], help: "Images per step (default: \(segmentationDefaults.batchSize)).") var batchSize: Int?
    @Option(help: "Learning rate at the start of the poly (power 0.9) schedule (default: \(segmentationDefaults.lr)).") var lr: Double?
    @Option(help: "Weight of the auxiliary head's loss; 0: no auxiliary head (default: \(segmentationDefaults.auxWeight)).") var auxWeight: Double?
    @Option(name: [.customLong("wd"), .long], help: "Weight decay (default: \(segmentationDefaults.weightDecay)).") var weightDecay: Double?
    @Option(help: "fp32 or bf16 (native, on CPUs with AVX-512 BF16; default: \(segmentationDefaults.precision.rawValue)).") var precision: TrainingPrecision?
    @Option(help: "Random seed (default: \(segmentationDefaults.seed)).") var seed: UInt64?
    @Option(help: "oneDNN threads (default: all cores).") var threads: Int?
    @Option(name: [.customShort("j"), .long], help: "Data loading threads (default: \(segmentationDefaults.workers)).") var workers: Int?
    @Option(help: "Output folder (default: \(segmentationDefaults.output)).") var output: String?
    @Option(help: "Progress line every N steps when output is not a terminal (default: \(segmentationDefaults.logEvery)).") var logEvery: Int?
    @Flag(help: "Continue the run in --output from its last checkpoint, with the settings it was started with (OUTPUT/config.json); only epochs, threads, workers and logging may change.")
    var resume = false
    @Flag(help: "Start again in an --output folder that holds an earlier run.") var overwrite = false

    /// The defaults (with --resume: the run's saved settings), then the flags given.
    func resolved() throws -> SegmentationConfig {
        let folder = ((output ?? segmentationDefaults.output) as NSString).standardizingPath
        var c = segmentationDefaults
        if resume {
            guard let saved = try SegmentationTask.savedRun(in: folder) else {
                throw CommandError("--resume: \(folder) holds no checkpoint (last.safetensors) to continue; start a run there without --resume")
            }
            c = saved.config
        } else if let backbone {
            guard let info = try? Checkpoint.loadModel(backbone).1 else {
                throw CommandError("--backbone: \(backbone) is not a checkpoint written by `tricks train`")
            }
            c.model = "fcn_" + info.model
        }
        if let model { c.model = model }
        if let backbone { c.backbone = backbone }
        if let data { c.data = data == "scenes" ? data : DataSource.absolute(data) }
        if let trainScenes { c.trainScenes = trainScenes }
        if let valScenes { c.valScenes = valScenes }
        if let baseSize { c.baseSize = baseSize }
        if let cropSize { c.cropSize = cropSize }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.lr = lr }
        if let auxWeight { c.auxWeight = auxWeight }
        if let weightDecay { c.weightDecay = weightDecay }
        if let precision { c.precision = precision }
        if let seed { c.seed = seed }
        if let threads { c.threads = threads }
        if let workers { c.workers = workers }
        c.output = folder
        if let logEvery { c.logEvery = logEvery }
        return c
    }

    func run() throws {
        let c = try resolved()
        if !resume { try clearForNewRun(c.output, overwrite: overwrite) }
        let trainer = try SegmentationTrainer(config: c, resume: resume)
        if resume && trainer.state.epoch >= c.epochs {
            print("\(c.output) has finished its \(counted(c.epochs, "epoch")): nothing to do (give --epochs with more to train further)")
            return
        }
        let state = try trainer.run()
        guard let last = state.history.last else { return }
        print(String(format: "final: mIoU %.2f%%, pixel accuracy %.2f%% (best mIoU %.2f%%) after %d epochs; checkpoints in %@",
                     last.meanIoU, last.pixelAccuracy, state.best, state.epoch, c.output))
    }
}

struct SegmentEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Pixel accuracy, mIoU and each class's IoU of a segmentation checkpoint on a validation set: the built-in scenes, or a VOC or ADE20K folder's validation split.")

    @Option(help: "A checkpoint written by `tricks segment train`.") var checkpoint: String
    @Option(help: "scenes (built-in), or a Pascal VOC or ADE20K folder whose validation split is scored (default: the data the checkpoint was trained on, else scenes).")
    var data: String?
    @Option(help: "Validation scenes (default: as many as the checkpoint's run used, else \(segmentationDefaults.valScenes)).") var valScenes: Int?
    @Option(name: [.customShort("b"), .long], help: "Images per batch.") var batchSize = 16
    @Option(help: "Score each image by windows of this side (averaged where they overlap), e.g. the training crop size.")
    var slidingWindow: Int?
    @Option(help: "Step between sliding windows (default: 2/3 of the window).") var windowStride: Int?

    func run() throws {
        if let slidingWindow, slidingWindow < 8 { throw CommandError("--sliding-window must be at least 8, got \(slidingWindow)") }
        if let windowStride, windowStride < 1 { throw CommandError("--window-stride must be positive, got \(windowStride)") }
        let (model, info) = try loadSegmentationModel(checkpoint)
        let size = info.inputSize ?? 96
        // The run the checkpoint came from, when it sits in its run folder.
        let run = try? SegmentationTask.savedRun(in: (checkpoint as NSString).deletingLastPathComponent)
        let source = data ?? run?.config.data ?? "scenes"
        let validation = try SegmentationTask.validationSet(data: source, scenes: valScenes ?? run?.config.valScenes ?? segmentationDefaults.valScenes,
                                                               size: size)
        guard validation.classes.count == info.classes.count, validation.channels == info.inputChannels else {
            throw CommandError("\(checkpoint) segments \(info.inputChannels)-channel images into \(info.classes.count) classes; "
                               + "\(source) has \(validation.channels)-channel images and \(validation.classes.count) classes (give --data with what it was trained on)")
        }
        let loader = try DataLoader(dataset: SegmentationSamples(validation),
                                    transform: PackedJointTransform(Pipelines.segmentationEval(baseSize: size,
                                                                                               normalize: Normalize(mean: info.mean, std: info.std))),
                                    // Photos differ in size after the resize: one per batch.
                                    batchSize: slidingWindow == nil && validation is GarmentScenes ? batchSize : 1, shuffle: false)
        let window = slidingWindow.map { (window: $0, stride: windowStride ?? max(1, $0 * 2 / 3)) }
        let evaluation = try evaluateSegmentation(model, loader: loader, classes: info.classes.count, slidingWindow: window)
        print(String(format: "%@ on %@ (%d images)%@: pixel accuracy %.2f%%, mIoU %.2f%%, loss %.4f", info.model,
                     source, validation.count, window.map { " (sliding \($0.window)x\($0.window) windows, stride \($0.stride))" } ?? "",
                     100 * evaluation.pixelAccuracy, 100 * evaluation.meanIoU, evaluation.loss))
        print("| class | IoU (%) |\n|---|---:|")
        for (name, iou) in zip(info.classes, evaluation.confusion.iou) {
            print("| \(name) | \(iou.map { String(format: "%.2f", 100 * $0) } ?? "-") |")
        }
    }
}

/// A checkpoint of `tricks segment train`, built and loaded (with its auxiliary head if it has one).
func loadSegmentationModel(_ path: String) throws -> (FCN, ModelInfo) {
    let (entries, metadata) = try SafeTensors.read(path)
    guard let info = ModelInfo(metadata: metadata) else {
        throw CommandError("\(path) is not a checkpoint written by `tricks segment train`")
    }
    if info.detection != nil {
        throw CommandError("\(path) is a detection checkpoint (\(info.model), written by `tricks detect train`): score it with `tricks detect eval`")
    }
    guard info.augment == "segmentation" else {
        throw CommandError("\(path) is a classification checkpoint (\(info.model), written by `tricks train`): score it with `tricks eval`, "
                           + "run it with `tricks predict`, or start a segmentation backbone from it with `tricks segment train --backbone`")
    }
    let hasAux = entries.keys.contains { $0.hasPrefix("aux_classifier.") }
    guard let model = try ModelZoo.make(info.model, classes: info.classes.count, inputChannels: info.inputChannels,
                                        auxiliaryHead: hasAux) as? FCN else { throw CommandError("\(info.model) is not an FCN") }
    try model.loadStateDict(entries, source: path)
    model.eval()
    return (model, info)
}

struct SegmentPredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "A class per pixel for image files and folders: NAME.mask.png (palette PNG, the labels as its indices) and "
            + "NAME.overlay.png (the classes' colours over the image) in --output-dir, and each image's classes by area. "
            + "NAME is the image's path under the folder given (its subfolders kept), or a file's own name.",
        discussion: "An unreadable file is reported and skipped; the rest are predicted, and the exit status is 1 if any failed.")

    @Option(help: "A checkpoint written by `tricks segment train`.") var checkpoint: String
    @Option(help: "Folder for the mask and overlay PNGs.") var outputDir = "predictions"
    @OptionGroup var placement: DeviceOption
    @Argument(help: "JPEG or PNG files, or folders of them.") var images: [String]

    func run() throws {
        let target = try placement.resolve()
        let precision = try placement.resolvedPrecision(on: target)
        let (model, info) = try Device.with(target) { try loadSegmentationModel(checkpoint) }
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        var failures = 0
        let files = try imageInputs(images)
        for (path, name) in files.map({ ($0.path, $0.name) }) {
            do {
                let (image, mask) = try SegmentationTask.predict(model, info: info, path: path, precision: precision)
                let base = (outputDir as NSString).appendingPathComponent(name)
                try FileManager.default.createDirectory(atPath: (base as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try AtomicFile.write(ImageCodec.encodeMask(mask), to: base + ".mask.png")
                try AtomicFile.write(ImageCodec.encodePNG(SegmentationTask.overlay(image, mask)), to: base + ".overlay.png")
                var areas = [Int](repeating: 0, count: info.classes.count)
                for label in mask.labels { areas[Int(label)] += 1 }
                let shown = areas.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }
                print(path + ": " + shown.map { String(format: "%@ %.1f%%", info.classes[$0.offset], 100 * Double($0.element) / Double(mask.labels.count)) }
                    .joined(separator: ", ") + " -> \(base).mask.png, .overlay.png")
            } catch {
                FileHandle.standardError.write(Data("skipped \(describe(error, of: path))\n".utf8))
                failures += 1
            }
        }
        let written = files.count - failures
        print("\(written) of \(files.count) image\(files.count == 1 ? "" : "s") predicted: \(written) mask and \(written) overlay PNGs in \(outputDir)")
        guard failures == 0 else {
            FileHandle.standardError.write(Data("\(failures) of \(files.count) image(s) could not be predicted\n".utf8))
            throw ExitCode(1)
        }
    }
}
