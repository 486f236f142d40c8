import Data
import Foundation
import Models
import NN
import Optim
import Tensors

/// Validation VOC and COCO box AP, in %.
public struct DetectionMetrics: Codable, Sendable, Equatable {
    /// VOC 2007's 11-point mAP at IoU 0.5 (the paper's Table 8 metric).
    public var voc07: Double
    /// VOC's area mAP at IoU 0.5 (VOC 2010 on).
    public var vocArea: Double
    /// COCO's AP@[.5:.95], AP50 and AP75 (101 recall points, 100 detections per image).
    public var cocoAP: Double, cocoAP50: Double, cocoAP75: Double

    public init(voc07: Double, vocArea: Double, cocoAP: Double, cocoAP50: Double, cocoAP75: Double) {
        (self.voc07, self.vocArea, self.cocoAP, self.cocoAP50, self.cocoAP75) = (voc07, vocArea, cocoAP, cocoAP50, cocoAP75)
    }
}

/// One epoch of a detection run, as `metrics.jsonl` records it.
public typealias DetectionEpoch = EpochResult<DetectionMetrics>
/// Where a detection run stands, saved with each checkpoint: enough to continue it.
public typealias DetectionState = RunState<DetectionConfig, DetectionMetrics>
/// A detection run on `EpochRunner`.
public typealias DetectionTrainer = EpochRunner<DetectionTask>

extension EpochRunner where Task == DetectionTask {
    public convenience init(config: DetectionConfig, resume: Bool = false) throws {
        try self.init(task: DetectionTask(config: config, resume: resume), resume: resume)
    }
}

/// Faster R-CNN training (the paper's section 6.1, torchvision's detection reference): SGD with
/// momentum on the trainable parameters, warmup then cosine or steps, the sum of the four
/// losses; each image flipped left to right with its boxes half the time. Each epoch ends with
/// VOC and COCO AP on the validation images (VOC 2007's 11-point mAP picks `best`).
///
/// Detection images differ in size and carry boxes, which the loader's batches (one tensor of
/// equal images) cannot hold: the loader hands out sample indices in its seeded order, and
/// `trainStep` reads those samples, with the flip drawn from (seed, epoch, index), so a resumed
/// run sees what an uninterrupted one saw. Reading is a small part of a detector's step.
public final class DetectionTask: TrainingTask {
    public let config: DetectionConfig
    public let model: Module
    public let detector: FasterRCNN
    public let info: ModelInfo
    public let optimizer: SGD
    public let trainLoader: DataLoader, validationLoader: DataLoader
    public let trainSet: any DetectionDataset, validationSet: any DetectionDataset
    public let schedule: any LearningRateSchedule
    public let precision: PrecisionPath
    /// The EMA of the weights where `--ema-decay` asks for one.
    public let tricks: [(name: String, trick: any TrainingTrick)]
    public let startLines: [String]
    public var title: String { "\(config.model) on \(config.data)" }

    public static var bestMetric: (name: String, value: KeyPath<DetectionMetrics, Double>) { ("validation VOC07 mAP (%)", \.voc07) }
    public static let stateKey = "tricks.detection_state"
    public static func describe(_ m: DetectionMetrics) -> String {
        String(format: "VOC07 mAP %.2f%%, COCO AP %.2f%% (AP50 %.2f%%, AP75 %.2f%%)", m.voc07, m.cocoAP, m.cocoAP50, m.cocoAP75)
    }

    public init(config: DetectionConfig, resume: Bool) throws {
        try config.validate()
        self.config = config
        if let threads = config.threads { try Threads.set(threads) }
        (trainSet, validationSet) = try DetectionTask.datasets(config)
        guard trainSet.classes == validationSet.classes else {
            throw TrainError("--val-data", "its classes (\(validationSet.classes.prefix(5).joined(separator: ", "))...) differ from the training data's "
                             + "(\(trainSet.classes.prefix(5).joined(separator: ", "))...)")
        }
        // The detector normalises images in [0, 1]: the scenes' own statistics, else torchvision's
        // (ImageNet's); from a classifier of ours, the statistics it was trained with (in
        // [0, 255], as every `ModelInfo` keeps them), since its features expect those inputs.
        var (mean, std) = try (trainSet as? GarmentDetectionScenes).map(DetectionTask.statistics)
            ?? (FasterRCNNSettings().imageMean, FasterRCNNSettings().imageStd)
        let backboneFile = try config.backbone.map(SafeTensors.read)
        var backboneInfo: ModelInfo?
        if let described = backboneFile.flatMap({ ModelInfo(metadata: $0.metadata) }) {
            backboneInfo = described
            (mean, std) = (described.mean.map { $0 / 255 }, described.std.map { $0 / 255 })
        }
        guard let resnet = ModelZoo.resnetConfig(ModelZoo.backboneName(config.model)) else { throw TrainError("--model", "\(config.model) has no ResNet") }
        var settings = config.detectorSettings(levels: resnet.layers.count + 1)
        (settings.imageMean, settings.imageStd) = (mean, std)
        let description = DetectorDescription(settings: settings, frozenBatchNorm: config.pretrained)
        let classes = ["__background__"] + trainSet.classes
        info = ModelInfo(model: config.model, classes: classes, inputChannels: trainSet.channels, mean: mean.map { $0 * 255 }, std: std.map { $0 * 255 },
                         augment: "detection", inputSize: settings.minSize, detection: description)
        detector = try DetectionTask.makeDetector(info)
        try detector.initialize(.kaimingNormal, seed: config.seed)
        try detector.initializeHeads(seed: config.seed &+ 1)
        if let path = config.backbone, let backboneFile {
            try DetectionTask.loadBackbone(path, entries: backboneFile.entries, described: backboneInfo, into: detector, name: config.model,
                                           frozen: description.frozenBatchNorm)
        }
        if let path = config.weights { try DetectionTask.loadWeights(path, into: detector, frozen: description.frozenBatchNorm) }
        try detector.trainBackboneLayers(config.trainableLayers)
        model = detector
        if let decay = config.emaDecay, decay > 0 {
            // A second detector of the same description holds the average (frozen parts stay equal).
            tricks = [("EMA", ModelEMA.Hook(try ModelEMA(of: detector, copy: try DetectionTask.makeDetector(info), decay: decay)))]
        } else {
            tricks = []
        }
        trainLoader = try DataLoader(dataset: SampleIndices(count: trainSet.count), transform: Compose([]), batchSize: config.batchSize,
                                     shuffle: true, dropLast: true, seed: config.seed, workers: 1)
        validationLoader = try DataLoader(dataset: SampleIndices(count: validationSet.count), transform: Compose([]), batchSize: config.batchSize,
                                          shuffle: false, seed: config.seed, workers: 1)
        precision = PrecisionPath.choose(config.precision.dataType, on: .cpu)
        if case .emulated = precision {
            throw TrainError("--precision", "bf16 needs a CPU with AVX-512 BF16 for detection (the emulation is classification's only); use fp32")
        }
        let trainable = detector.namedParameters().filter(\.1.requiresGrad)
        optimizer = try SGD(groups: parameterGroups(trainable, weightDecay: config.weightDecay, noBiasDecay: config.noBiasDecay),
                            momentum: config.momentum, nesterov: false)
        let steps = trainLoader.batchCount
        let warmup = Int((config.warmup * Double(steps)).rounded())
        let after: any LearningRateSchedule = switch config.schedule {
        case .cosine: CosineSchedule(base: config.learningRate, total: steps * config.epochs - warmup)
        case .step: StepSchedule(base: config.learningRate, milestones: (config.lrSteps ?? [config.epochs * 2 / 3, config.epochs * 8 / 9]).map { $0 * steps - warmup })
        case .constant: ConstantSchedule(config.learningRate)
        }
        schedule = warmup > 0 ? WarmupSchedule(iterations: warmup, then: after) : after
        var lines = ["data: train \(trainSet.summary); validation \(validationSet.summary); shorter side \(settings.minSize) (longer at most \(settings.maxSize)), "
                     + "anchors \(settings.anchorSizes.map { String(format: "%g", $0) }.joined(separator: "/"))"]
        if let note = precision.note(on: .cpu) { lines.append(note) }
        lines.append(String(format: "%@: %d parameters (%d trainable: backbone layers %d of 5, BatchNorm %@), lr %.4g (%@, warmup %g epochs), batch %d, %d steps per epoch",
                            config.model, detector.parameterCount, trainable.reduce(0) { $0 + $1.1.count }, config.trainableLayers,
                            description.frozenBatchNorm ? "frozen" : "trained", config.learningRate, config.schedule.rawValue, config.warmup, config.batchSize, steps))
        if let decay = config.emaDecay, decay > 0 {
            lines.append(String(format: "EMA of the weights, decay %g (remembers ~%.0f steps): it is evaluated and saved as best", decay, 1 / (1 - decay)))
        }
        if let path = config.backbone, !resume { lines.append("backbone: started from \(path) (every weight but the classifier)") }
        if let path = config.weights, !resume { lines.append("weights: started from \(path)") }
        startLines = lines
    }

    /// The detector `info` describes, its weights zero. Detection's shapes change every step, so
    /// the host buffer cache keeps nothing beyond the peak (`HostMemoryPool.setMargin`): measured
    /// on a fasterrcnn_resnet50_fpn training step, the same speed and 2,125 instead of 2,277 MB.
    public static func makeDetector(_ info: ModelInfo) throws -> FasterRCNN {
        HostMemoryPool.setMargin(0)
        guard let description = info.detection else { throw TrainError(info.model, "is not described as a detector (no detection settings)") }
        guard var body = ModelZoo.resnetConfig(ModelZoo.backboneName(info.model)) else {
            throw TrainError("--model", "\(info.model) is not fasterrcnn_, a ResNet of `tricks models` and _fpn")
        }
        body.inputChannels = info.inputChannels
        let detector = try FasterRCNN(backbone: body, classes: info.classes.count, frozenBatchNorm: description.frozenBatchNorm, settings: description.settings)
        try detector.checkStateIsRegistered()
        return detector
    }

    /// How torchvision's `fasterrcnn_*_fpn` weights are to be run: its transform and anchors,
    /// frozen BatchNorm, `classes` with the background first.
    public static func torchvisionInfo(model: String, classes: [String]) -> ModelInfo {
        let settings = FasterRCNNSettings()
        return ModelInfo(model: model, classes: classes, inputChannels: 3, mean: settings.imageMean.map { $0 * 255 },
                         std: settings.imageStd.map { $0 * 255 }, augment: "detection",
                         inputSize: settings.minSize, detection: DetectorDescription(settings: settings, frozenBatchNorm: true))
    }

    /// The built-in scenes, a VOC folder or a COCO annotation file (with its validation file).
    public static func datasets(_ config: DetectionConfig) throws -> (train: any DetectionDataset, validation: any DetectionDataset) {
        if config.data == "scenes" {
            return (try GarmentDetectionScenes.builtIn(train: true, count: config.trainScenes, size: config.sceneSize),
                    try GarmentDetectionScenes.builtIn(train: false, count: config.valScenes, size: config.sceneSize))
        }
        if config.data.hasSuffix(".json") {
            let train = try COCODetection(annotationFile: config.data, imageFolder: config.images ?? "")
            guard let valData = config.valData, let valImages = config.valImages else {
                throw TrainError("--val-data", "a COCO run needs a validation annotation file and --val-images (e.g. instances_val2017.json and val2017/)")
            }
            return (train, try COCODetection(annotationFile: valData, imageFolder: valImages))
        }
        let has = { (name: String) in FileManager.default.fileExists(atPath: config.data + "/" + name) }
        guard has("Annotations") || has("VOC2007/Annotations") else {
            throw TrainError("--data", "\(config.data) is neither 'scenes', a COCO annotation file (.json) nor a Pascal VOC folder "
                             + "(Annotations/, JPEGImages/, ImageSets/Main/; or a VOCdevkit holding VOC2007/)")
        }
        return (try VOCDetection(root: config.data, split: config.trainSplit), try VOCDetection(root: config.valData ?? config.data, split: config.valSplit))
    }

    /// Mean and std of 200 training scenes, in [0, 1] (the canvas is mostly dark).
    static func statistics(_ scenes: GarmentDetectionScenes) throws -> ([Float], [Float]) {
        var (sum, squares, n) = (0.0, 0.0, 0.0)
        for i in 0..<min(200, scenes.count) {
            for v in try scenes.sample(at: i).image.pixels { sum += Double(v / 255); squares += Double(v / 255) * Double(v / 255); n += 1 }
        }
        let mean = sum / n
        return ([Float(mean)], [Float(max(1e-3, (squares / n - mean * mean).squareRoot()))])
    }

    /// A classification checkpoint's weights (ours, or a torchvision/timm ResNet's state dict)
    /// into the detector's backbone, its classifier left out.
    static func loadBackbone(_ path: String, entries: [String: SafeTensors.Entry], described: ModelInfo?, into detector: FasterRCNN, name: String,
                             frozen: Bool) throws {
        let backbone = ModelZoo.backboneName(name)
        if let described, described.model != backbone {
            throw TrainError("--backbone", "\(path) holds \(described.model); its detector is fasterrcnn_\(described.model)_fpn, not \(name)")
        }
        if let described, described.inputChannels != detector.backbone.body.config.inputChannels {
            throw TrainError("--backbone", "\(path) takes \(described.inputChannels)-channel images but the data has \(detector.backbone.body.config.inputChannels)")
        }
        // Frozen BatchNorm keeps no step counter.
        let entries = entries.filter { !frozen || !$0.key.hasSuffix("num_batches_tracked") }
        try detector.backbone.body.loadStateDict(entries, source: path, excluding: ["fc."])
    }

    /// Whole-detector weights: a `tricks detect train` checkpoint or torchvision's state dict.
    static func loadWeights(_ path: String, into detector: FasterRCNN, frozen: Bool) throws {
        var (entries, _) = try SafeTensors.read(path)
        entries = entries.filter { !frozen || !$0.key.hasSuffix("num_batches_tracked") }
        try detector.loadStateDict(entries, source: path)
    }

    /// The samples of a batch's indices, each flipped left to right with its boxes half the
    /// time (drawn from the seed, the epoch and the sample), as [C, H, W] tensors in [0, 1].
    func trainingSamples(_ indices: [Int], epoch: Int) throws -> ([Tensor], [DetectionTarget]) {
        var images: [Tensor] = [], targets: [DetectionTarget] = []
        for index in indices {
            var sample = try trainSet.checkedSample(at: index)
            var draw = SeededGenerator(seed: config.seed, UInt64(epoch), UInt64(index), 0xF11B)
            if Bool.random(using: &draw) { sample = sample.flippedHorizontally() }
            let (boxes, labels) = sample.trainingObjects
            images.append(try detectionTensor(sample.image))
            targets.append(DetectionTarget(boxes: boxes.map { Box($0[0], $0[1], $0[2], $0[3]) }, labels: labels))
        }
        return (images, targets)
    }

    /// The sum of torchvision's four losses on the batch's samples.
    public func trainStep(_ batch: Batch, context: StepContext) throws -> Double {
        let (images, targets) = try trainingSamples(batch.indices, epoch: context.info.epoch)
        var generator = SeededGenerator(seed: context.info.seed, UInt64(context.info.epoch), UInt64(context.info.iteration), UInt64(context.info.micro))
        return try precision.run {
            let total = try detector.losses(images.map { try $0.to(detector.device) }, targets: targets, generator: &generator).total()
            try scale(total, by: context.lossScale).backward()
            return Double(try total.item())
        }
    }

    public func validate(_ model: Module, collective: any Collective) throws -> (loss: Double, metrics: DetectionMetrics) {
        let evaluation = try evaluateDetection((model as? FasterRCNN) ?? detector, on: validationSet, batchSize: config.batchSize,
                                               precision: precision.dataType)
        return (evaluation.loss, evaluation.metrics)
    }

    public func checkResumable(from saved: DetectionConfig) throws { try config.checkResumable(from: saved) }

    /// The saved state of the run in `folder`, or nil where it holds no checkpoint.
    public static func savedRun(in folder: String) throws -> DetectionState? { try savedState(in: folder, kind: "detection") }
}

/// A data set of bare sample indices, so that detection gets the loader's seeded order, shards
/// and resume position while reading its samples itself (`DetectionTask`).
struct SampleIndices: Dataset {
    let count: Int
    var classes: [String] { ["sample"] }
    var channels: Int { 1 }
    func label(at index: Int) -> Int { 0 }
    func image(at index: Int) throws -> Image { Image(width: 1, height: 1, channels: 1, pixels: [Float(index)]) }
    func source(of index: Int) -> String { "sample \(index)" }
}

/// An image (HWC, values in [0, 255]) as the detector takes it: [C, H, W] in [0, 1].
public func detectionTensor(_ image: Image) throws -> Tensor {
    let (c, h, w) = (image.channels, image.height, image.width)
    var values = [Float](repeating: 0, count: c * h * w)
    for y in 0..<h { for x in 0..<w { for k in 0..<c { values[(k * h + y) * w + x] = image.pixels[(y * w + x) * c + k] / 255 } } }
    return try Tensor(shape: [c, h, w], scalars: values)
}
