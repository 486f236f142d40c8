import ArgumentParser
import Data
import Foundation
import Models
import NN
import Tensors
import Train

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Object detection with Faster R-CNN and a feature pyramid on the zoo's ResNets (the paper's section 6.1): train, eval and predict.",
        discussion: "--data scenes (the default) is built in: 0-4 Fashion-MNIST garments on a dark canvas, each with its box and class "
            + "(10 classes; about a tenth of the scenes empty), training scenes from the training images, validation scenes from the test images. "
            + "A Pascal VOC folder (VOC2007/ or a VOCdevkit holding it: Annotations/*.xml, JPEGImages/, ImageSets/Main/{train,val,trainval,test}.txt; "
            + "difficult objects kept for evaluation only) or a COCO annotation file (--data instances_train.json --images train/ "
            + "--val-data instances_val.json --val-images val/; crowds kept for evaluation only) works too. "
            + "Models are named as torchvision's: fasterrcnn_resnet50_fpn; fasterrcnn_cifar_resnet20_fpn for small images.",
        subcommands: [DetectTrainCommand.self, DetectEvalCommand.self, DetectPredictCommand.self])
}

/// The settings of a detection run when no flag gives them, for `--help`.
private let detectionDefaults = DetectionConfig()

struct DetectTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train Faster R-CNN; checkpoints, config.json and metrics.jsonl (VOC and COCO AP) go to --output.")

    @Option(help: "fasterrcnn_, a ResNet of `tricks models` and _fpn (default: \(detectionDefaults.model); from --backbone's model when given).")
    var model: String?
    @Option(help: "A classification checkpoint (`tricks train`) or a torchvision/timm ResNet state dict whose weights start the backbone.")
    var backbone: String?
    @Option(help: "Whole-detector weights to start from: a `tricks detect train` checkpoint or torchvision's fasterrcnn state dict.")
    var weights: String?
    @Option(help: "scenes (built-in), a Pascal VOC folder, or a COCO annotation file (default: \(detectionDefaults.data)).") var data: String?
    @Option(help: "COCO: the folder of the training images.") var images: String?
    @Option(help: "COCO: the validation annotation file; VOC: another VOC folder to validate on (default: --data).") var valData: String?
    @Option(help: "COCO: the folder of the validation images.") var valImages: String?
    @Option(help: "VOC: the training split (default: \(detectionDefaults.trainSplit)).") var trainSplit: String?
    @Option(help: "VOC: the validation split (default: \(detectionDefaults.valSplit)).") var valSplit: String?
    @Option(help: "Training scenes (default: \(detectionDefaults.trainScenes)).") var trainScenes: Int?
    @Option(help: "Validation scenes (default: \(detectionDefaults.valScenes)).") var valScenes: Int?
    @Option(help: "Scene side in pixels (default: \(detectionDefaults.sceneSize)).") var sceneSize: Int?
    @Option(help: "Resize: shorter side (default: 800, or 128 for the CIFAR ResNets).") var minSize: Int?
    @Option(help: "Resize: longest longer side (default: 1333, or 224 for the CIFAR ResNets).") var maxSize: Int?
    @Option(help: "Anchor sizes, one per pyramid level, comma-separated (default: 32,64,128,256,512, or 8,16,32,64 for the CIFAR ResNets).")
    var anchorSizes: String?
    @Option(help: "torchvision's trainable_backbone_layers, 0-5 (default: 3 with pretrained weights, 5 without).") var trainableBackboneLayers: Int?
    @Option(help: "Epochs (default: \(detectionDefaults.epochs)).") var epochs: Int?
    @Option(name: [.customShort("b"), .long], help: "Images per step (default: \(detectionDefaults.batchSize)).") var batchSize: Int?
    @Option(help: "Learning rate after warmup (default: 0.02 per 16 images, torchvision's rule; 0.02 for the CIFAR ResNets' detectors).") var lr: Double?
    @Option(help: "cosine, step or constant (default: \(detectionDefaults.schedule.rawValue)).") var sched: ScheduleKind?
    @Option(help: "Step schedule: epochs at which the rate drops 10x, comma-separated (default: 2/3 and 8/9 of the run).") var lrSteps: String?
    @Option(help: "Linear warmup epochs (default: 1, or a quarter of a shorter run).") var warmupEpochs: Double?
    @Flag(help: "Weight decay on biases and BatchNorm parameters too (default: none there, the paper's no-bias-decay, section 3.1).") var biasDecay = false
    @Option(name: [.customLong("wd"), .long], help: "Weight decay (default: \(detectionDefaults.weightDecay)).") var weightDecay: Double?
    @Option(help: "EMA of the weights with this decay, evaluated each epoch and saved as best (0.998 remembers ~500 steps; default: none).")
    var emaDecay: Double?
    @Option(help: "fp32 or bf16 (native, on CPUs with AVX-512 BF16; default: \(detectionDefaults.precision.rawValue)).") var precision: TrainingPrecision?
    @Option(help: "Random seed (default: \(detectionDefaults.seed)).") var seed: UInt64?
    @Option(help: "oneDNN threads (default: all cores).") var threads: Int?
    @Option(help: "Output folder (default: \(detectionDefaults.output)).") var output: String?
    @Option(help: "Progress line every N steps when output is not a terminal (default: \(detectionDefaults.logEvery)).") var logEvery: Int?
    @Flag(help: "Continue the run in --output from its last checkpoint, with the settings it was started with (OUTPUT/config.json); only epochs, threads and logging may change.")
    var resume = false
    @Flag(help: "Start again in an --output folder that holds an earlier run.") var overwrite = false

    /// The defaults (with --resume: the run's saved settings), then the flags given.
    func resolved() throws -> DetectionConfig {
        let folder = ((output ?? detectionDefaults.output) as NSString).standardizingPath
        var c = detectionDefaults
        if resume {
            guard let saved = try DetectionTask.savedRun(in: folder) else {
                throw CommandError("--resume: \(folder) holds no checkpoint (last.safetensors) to continue; start a run there without --resume")
            }
            c = saved.config
        } else if let backbone, let info = ModelInfo(metadata: try SafeTensors.read(backbone).metadata) {
            c.model = "fasterrcnn_\(info.model)_fpn"
        }
        if let model { c.model = model }
        if let backbone { c.backbone = DataSource.absolute(backbone) }
        if let weights { c.weights = DataSource.absolute(weights) }
        if let data { c.data = data == "scenes" ? data : DataSource.absolute(data) }
        if let images { c.images = DataSource.absolute(images) }
        if let valData { c.valData = DataSource.absolute(valData) }
        if let valImages { c.valImages = DataSource.absolute(valImages) }
        if let trainSplit { c.trainSplit = trainSplit }
        if let valSplit { c.valSplit = valSplit }
        if let trainScenes { c.trainScenes = trainScenes }
        if let valScenes { c.valScenes = valScenes }
        if let sceneSize { c.sceneSize = sceneSize }
        if let minSize { c.minSize = minSize }
        if let maxSize { c.maxSize = maxSize }
        if let anchorSizes { c.anchorSizes = try numbers(anchorSizes, flag: "--anchor-sizes").map(Float.init) }
        if let trainableBackboneLayers { c.trainableBackboneLayers = trainableBackboneLayers }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.lr = lr }
        if let sched { c.schedule = sched }
        if let lrSteps { c.lrSteps = try numbers(lrSteps, flag: "--lr-steps").map { Int($0) } }
        if let warmupEpochs { c.warmupEpochs = warmupEpochs }
        if biasDecay { c.noBiasDecay = false }
        if let weightDecay { c.weightDecay = weightDecay }
        if let emaDecay { c.emaDecay = emaDecay }
        if let precision { c.precision = precision }
        if let seed { c.seed = seed }
        if let threads { c.threads = threads }
        c.output = folder
        if let logEvery { c.logEvery = logEvery }
        return c
    }

    func numbers(_ text: String, flag: String) throws -> [Double] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap(Double.init)
        guard !parts.isEmpty, values.count == parts.count else { throw CommandError("\(flag): '\(text)' is not a comma-separated list of numbers") }
        return values
    }

    func run() throws {
        let c = try resolved()
        if !resume { try clearForNewRun(c.output, overwrite: overwrite) }
        let trainer = try DetectionTrainer(config: c, resume: resume)
        if resume && trainer.state.epoch >= c.epochs {
            print("\(c.output) has finished its \(counted(c.epochs, "epoch")): nothing to do (give --epochs with more to train further)")
            return
        }
        let state = try trainer.run()
        guard let last = state.history.last else { return }
        print(String(format: "final: VOC07 mAP %.2f%%, COCO AP %.2f%% (AP50 %.2f%%, AP75 %.2f%%; best VOC07 mAP %.2f%%) after %d epochs; checkpoints in %@",
                     last.voc07, last.cocoAP, last.cocoAP50, last.cocoAP75, state.best, state.epoch, c.output))
    }
}

/// A detector: a `tricks detect train` checkpoint, or a torchvision fasterrcnn state dict with
/// --model (torchvision's default transform and anchors; frozen BatchNorm, as torchvision saves it).
func loadDetector(_ path: String, foreign: ForeignWeightsOptions) throws -> (FasterRCNN, ModelInfo) {
    let (entries, metadata) = try SafeTensors.read(path)
    var info: ModelInfo
    if let described = ModelInfo(metadata: metadata) {
        guard described.detection != nil else {
            throw CommandError("\(path) holds \(described.model), not a detector (written by `tricks \(described.augment == "segmentation" ? "segment " : "")train`)")
        }
        info = described
    } else {
        guard let name = foreign.model else {
            throw CommandError("\(path) has no BagOfTricks model description: for torchvision's weights give --model (e.g. fasterrcnn_resnet50_fpn)")
        }
        guard let scores = entries["roi_heads.box_predictor.cls_score.weight"], scores.shape.count == 2 else {
            throw CommandError("\(path) has no roi_heads.box_predictor.cls_score.weight: not a torchvision Faster R-CNN state dict")
        }
        let names = try foreign.classNames() ?? (1..<scores.shape[0]).map { "class \($0)" }
        guard names.count == scores.shape[0] - 1 || names.count == scores.shape[0] else {
            throw CommandError("--classes: \(names.count) names, but \(path) scores \(scores.shape[0] - 1) classes and the background")
        }
        let classes = names.count == scores.shape[0] ? names : ["__background__"] + names
        info = DetectionTask.torchvisionInfo(model: name, classes: classes)
    }
    let detector = try DetectionTask.makeDetector(info)
    try detector.loadStateDict(entries, source: path)
    detector.eval()
    return (detector, info)
}

struct DetectEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "VOC mAP (2007 11-point and area, IoU 0.5) and COCO AP (@[.5:.95], 50, 75) of a detector on a validation set, with each class's VOC AP.")

    @Option(help: "A checkpoint written by `tricks detect train`, or torchvision's weights with --model.") var checkpoint: String
    @OptionGroup var foreign: ForeignWeightsOptions
    @Option(help: "scenes, a VOC folder or a COCO annotation file (default: the validation data of the checkpoint's run, else scenes).") var data: String?
    @Option(help: "COCO: the folder of the images.") var images: String?
    @Option(help: "VOC: the split scored (default: the run's, else test).") var split: String?
    @Option(help: "Validation scenes (default: as many as the checkpoint's run used, else \(detectionDefaults.valScenes)).") var valScenes: Int?
    @Option(name: [.customShort("b"), .long], help: "Images per batch.") var batchSize = 4
    @OptionGroup var placement: DeviceOption

    func run() throws {
        let target = try placement.resolve()
        let precision = try placement.resolvedPrecision(on: target)
        let (detector, info) = try Device.with(target) { try loadDetector(checkpoint, foreign: foreign) }
        let run = try? DetectionTask.savedRun(in: (checkpoint as NSString).deletingLastPathComponent)
        var c = run?.config ?? detectionDefaults
        if let data {
            c.data = data == "scenes" ? data : DataSource.absolute(data)
            (c.valData, c.valImages) = data.hasSuffix(".json") ? (c.data, images.map(DataSource.absolute)) : (nil, nil)
            c.images = c.valImages
        } else if let valData = c.valData, c.data.hasSuffix(".json") {
            (c.data, c.images) = (valData, c.valImages)
        }
        if let split { c.valSplit = split }
        if let valScenes { c.valScenes = valScenes }
        c.sceneSize = run?.config.sceneSize ?? c.sceneSize
        let validation = try DetectionTask.datasets(c).validation
        guard validation.classes.count + 1 == info.classes.count, validation.channels == info.inputChannels else {
            throw CommandError("\(checkpoint) detects \(info.classes.count - 1) classes in \(info.inputChannels)-channel images; "
                               + "\(c.data) has \(validation.classes.count) classes in \(validation.channels)-channel images (give --data with what it was trained on)")
        }
        let evaluation = try Device.with(target) { try evaluateDetection(detector, on: validation, batchSize: batchSize, precision: precision) }
        let m = evaluation.metrics
        print(String(format: "%@ on %@ (%d images): VOC07 mAP %.2f%%, VOC area mAP %.2f%%, COCO AP %.2f%% (AP50 %.2f%%, AP75 %.2f%%), loss %.4f",
                     info.model, c.data, validation.count, m.voc07, m.vocArea, m.cocoAP, m.cocoAP50, m.cocoAP75, evaluation.loss))
    }
}

struct DetectPredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Objects in image files and folders: one JSON line per detection (file, label, score, x1, y1, x2, y2, in the image's pixels) "
            + "in OUTPUT-DIR/detections.jsonl and on standard output, and NAME.overlay.png (the boxes in their classes' colours) in --output-dir.",
        discussion: "An unreadable file is reported and skipped; the rest are predicted, and the exit status is 1 if any failed.")

    @Option(help: "A checkpoint written by `tricks detect train`, or torchvision's weights with --model.") var checkpoint: String
    @OptionGroup var foreign: ForeignWeightsOptions
    @Option(help: "Report detections scoring at least this (the model keeps those over 0.05).") var minScore: Float = 0.5
    @Option(help: "Folder for detections.jsonl and the overlay PNGs.") var outputDir = "predictions"
    @OptionGroup var placement: DeviceOption
    @Argument(help: "JPEG or PNG files, or folders of them.") var images: [String]

    struct Line: Encodable { var file: String; var label: String; var score: Float; var x1, y1, x2, y2: Float }

    func run() throws {
        let target = try placement.resolve()
        let precision = try placement.resolvedPrecision(on: target)
        let (detector, info) = try Device.with(target) { try loadDetector(checkpoint, foreign: foreign) }
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        var failures = 0, lines: [String] = []
        let files = try imageInputs(images)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for (path, name) in files.map({ ($0.path, $0.name) }) {
            do {
                let (image, found) = try Device.with(target) { try DetectionTask.predict(detector, info: info, path: path, precision: precision) }
                let kept = found.filter { $0.score >= minScore }
                let base = (outputDir as NSString).appendingPathComponent(name)
                try FileManager.default.createDirectory(atPath: (base as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try AtomicFile.write(ImageCodec.encodePNG(DetectionTask.overlay(image, kept)), to: base + ".overlay.png")
                for d in kept {
                    let line = Line(file: path, label: info.classes[d.label], score: d.score, x1: d.box.x1, y1: d.box.y1, x2: d.box.x2, y2: d.box.y2)
                    let text = String(decoding: try encoder.encode(line), as: UTF8.self)
                    print(text)
                    lines.append(text)
                }
                FileHandle.standardError.write(Data("\(path): \(counted(kept.count, "object")) -> \(base).overlay.png\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("skipped \(describe(error, of: path))\n".utf8))
                failures += 1
            }
        }
        try AtomicFile.write(Array(lines.map { $0 + "\n" }.joined().utf8), to: (outputDir as NSString).appendingPathComponent("detections.jsonl"))
        let written = files.count - failures
        FileHandle.standardError.write(Data("\(written) of \(files.count) image\(files.count == 1 ? "" : "s") predicted: \(lines.count) detections in \(outputDir)/detections.jsonl, \(written) overlay PNGs\n".utf8))
        guard failures == 0 else { throw ExitCode(1) }
    }
}
