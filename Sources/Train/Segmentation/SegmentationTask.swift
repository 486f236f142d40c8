import Data
import Foundation
import Models
import NN
import Optim
import Tensors

/// Validation pixel accuracy and mean IoU, in %.
public struct SegmentationMetrics: Codable, Sendable, Equatable {
    public var pixelAccuracy: Double
    public var meanIoU: Double
    public init(pixelAccuracy: Double, meanIoU: Double) { (self.pixelAccuracy, self.meanIoU) = (pixelAccuracy, meanIoU) }
}

/// One epoch of a segmentation run, as `metrics.jsonl` records it.
public typealias SegmentationEpoch = EpochResult<SegmentationMetrics>

/// Where a segmentation run stands, saved with each checkpoint: enough to continue it.
public typealias SegmentationState = RunState<SegmentationConfig, SegmentationMetrics>

/// A segmentation run on `EpochRunner`.
public typealias SegmentationTrainer = EpochRunner<SegmentationTask>

extension EpochRunner where Task == SegmentationTask {
    public convenience init(config: SegmentationConfig, resume: Bool = false) throws {
        try self.init(task: SegmentationTask(config: config, resume: resume), resume: resume)
    }
}

/// FCN training (the paper's section 6): SGD with Nesterov momentum, the poly schedule,
/// per-pixel cross-entropy ignoring label 255 plus `auxWeight` x the auxiliary head's; each
/// epoch ends with pixel accuracy and mIoU (which picks `best`) on the validation scenes.
public final class SegmentationTask: TrainingTask {
    public let config: SegmentationConfig
    public let model: Module
    public let fcn: FCN
    public let info: ModelInfo
    public let optimizer: SGD
    public let trainLoader: DataLoader, validationLoader: DataLoader
    public let schedule: any LearningRateSchedule
    public let precision: PrecisionPath
    public let startLines: [String]
    public var title: String { "\(config.model) on \(config.data)" }

    public static var bestMetric: (name: String, value: KeyPath<SegmentationMetrics, Double>) { ("validation mIoU (%)", \.meanIoU) }
    /// Its own key, so a segmentation checkpoint is never read as a classification run's.
    public static let stateKey = "tricks.segmentation_state"
    public static func describe(_ metrics: SegmentationMetrics) -> String {
        String(format: "pixel accuracy %.2f%%, mIoU %.2f%%", metrics.pixelAccuracy, metrics.meanIoU)
    }

    public init(config: SegmentationConfig, resume: Bool) throws {
        try config.validate()
        self.config = config
        if let threads = config.threads { try Threads.set(threads) }
        let (train, validation) = try SegmentationTask.datasets(config)
        let (mean, std) = try (train as? GarmentScenes).map(SegmentationTask.statistics) ?? (Normalize.imagenet.mean, Normalize.imagenet.std)
        let normalize = Normalize(mean: mean, std: std)
        trainLoader = try DataLoader(dataset: SegmentationSamples(train),
                                     transform: PackedJointTransform(Pipelines.segmentationTrain(baseSize: config.baseSize, cropSize: config.cropSize,
                                                                                                  normalize: normalize)),
                                     batchSize: config.batchSize, shuffle: true, dropLast: true, seed: config.seed, workers: config.workers)
        validationLoader = try DataLoader(dataset: SegmentationSamples(validation),
                                          transform: PackedJointTransform(Pipelines.segmentationEval(baseSize: config.baseSize, normalize: normalize)),
                                          // Photos differ in size after the resize: one per batch.
                                          batchSize: validation is GarmentScenes ? config.batchSize : 1, shuffle: false, seed: config.seed,
                                          workers: config.workers)
        guard let model = try ModelZoo.make(config.model, classes: train.classes.count, inputChannels: train.channels,
                                            auxiliaryHead: config.auxWeight > 0) as? FCN else {
            throw TrainError("--model", "\(config.model) is not an FCN")
        }
        try model.initialize(.kaimingNormal, seed: config.seed)
        if let path = config.backbone { try SegmentationTask.loadBackbone(path, into: model, name: config.model) }
        (self.model, fcn) = (model, model)
        info = ModelInfo(model: config.model, classes: train.classes, inputChannels: train.channels, mean: mean, std: std,
                         augment: "segmentation", inputSize: config.baseSize)
        precision = PrecisionPath.choose(config.precision.dataType, on: .cpu)
        if case .emulated = precision {
            throw TrainError("--precision", "bf16 needs a CPU with AVX-512 BF16 for segmentation (the emulation is classification's only); use fp32")
        }
        // The paper's no-bias-decay is not part of FCN's recipe: decay on every parameter, as torchvision's reference.
        optimizer = try SGD(groups: parameterGroups(model.namedParameters(), weightDecay: config.weightDecay, noBiasDecay: false),
                            momentum: config.momentum, nesterov: true)
        schedule = PolySchedule(base: config.lr, total: trainLoader.batchCount * config.epochs)
        var lines = ["data: train \(train.summary) (shorter side \(config.baseSize / 2)-\(config.baseSize * 2), \(config.cropSize)x\(config.cropSize) crops); "
            + "validation \(validation.summary)"]
        if let note = precision.note(on: .cpu) { lines.append(note) }
        lines.append(String(format: "%@: %d parameters, output stride %d, lr %.4g (poly 0.9), batch %d, %d steps per epoch", config.model,
                            model.parameterCount, model.backbone.config.outputStride, config.lr, config.batchSize, trainLoader.batchCount))
        if let path = config.backbone, !resume { lines.append("backbone: started from \(path) (every weight but fc)") }
        startLines = lines
    }

    /// The built-in scenes, or a Pascal VOC or ADE20K folder (told apart by their subfolders).
    public static func datasets(_ config: SegmentationConfig) throws -> (train: any SegmentationDataset, validation: any SegmentationDataset) {
        (try trainingSet(config), try validationSet(data: config.data, scenes: config.valScenes, size: config.baseSize))
    }

    static func trainingSet(_ config: SegmentationConfig) throws -> any SegmentationDataset {
        switch try layout(of: config.data) {
        case .scenes: try GarmentScenes.builtIn(train: true, count: config.trainScenes, size: config.baseSize)
        case .voc: try VOCSegmentation(root: config.data, split: "train")
        case .ade20k: try ADE20K(root: config.data, split: "training")
        }
    }

    /// The validation images of `data`: `scenes` built-in scenes of side `size` from the test
    /// garments, VOC's val split or ADE20K's validation split.
    public static func validationSet(data: String, scenes: Int, size: Int) throws -> any SegmentationDataset {
        switch try layout(of: data) {
        case .scenes: try GarmentScenes.builtIn(train: false, count: scenes, size: size)
        case .voc: try VOCSegmentation(root: data, split: "val")
        case .ade20k: try ADE20K(root: data, split: "validation")
        }
    }

    enum Layout { case scenes, voc, ade20k }

    static func layout(of data: String) throws -> Layout {
        if data == "scenes" { return .scenes }
        let has = { (name: String) in FileManager.default.fileExists(atPath: data + "/" + name) }
        if has("JPEGImages") && has("SegmentationClass") { return .voc }
        if has("images") && has("annotations") { return .ade20k }
        throw TrainError("--data", "\(data) is neither 'scenes' nor a Pascal VOC folder (JPEGImages/, SegmentationClass/, "
                         + "ImageSets/Segmentation/) nor an ADE20K folder (images/, annotations/)")
    }

    /// Mean and std of 200 training scenes (the canvas is mostly dark, unlike single garments).
    static func statistics(_ scenes: GarmentScenes) throws -> ([Float], [Float]) {
        var (sum, squares, n) = (0.0, 0.0, 0.0)
        for i in 0..<min(200, scenes.count) {
            for v in try scenes.sample(at: i).image.pixels { sum += Double(v); squares += Double(v) * Double(v); n += 1 }
        }
        let mean = sum / n
        return ([Float(mean)], [Float(max(1e-3, (squares / n - mean * mean).squareRoot()))])
    }

    /// A classification checkpoint's weights into the backbone (everything but its classifier).
    static func loadBackbone(_ path: String, into model: FCN, name: String) throws {
        let (entries, metadata) = try SafeTensors.read(path)
        if let described = ModelInfo(metadata: metadata), "fcn_" + described.model != name {
            throw TrainError("--backbone", "\(path) holds \(described.model); its FCN is fcn_\(described.model), not \(name)")
        }
        try model.backbone.loadStateDict(entries, source: path, excluding: ["fc."])
    }

    /// Per-pixel cross-entropy ignoring label 255, plus `auxWeight` x the auxiliary head's.
    public func trainStep(_ batch: Batch, context: StepContext) throws -> Double {
        let (input, labels) = try unpackSegmentationBatch(batch)
        let ignore = Int(Mask.ignoreIndex)
        return try precision.run {
            let (out, aux) = try fcn.forwardWithAuxiliary(input)
            var loss = try crossEntropy(out, labels: labels, ignoreIndex: ignore)
            if let aux, config.auxWeight > 0 {
                loss = try loss + scale(crossEntropy(aux, labels: labels, ignoreIndex: ignore), by: Float(config.auxWeight))
            }
            try scale(loss, by: context.lossScale).backward()
            return Double(try loss.item())
        }
    }

    public func validate(_ model: Module, collective: any Collective) throws -> (loss: Double, metrics: SegmentationMetrics) {
        let evaluation = try evaluateSegmentation((model as? FCN) ?? fcn, loader: validationLoader, classes: info.classes.count)
        return (evaluation.loss, SegmentationMetrics(pixelAccuracy: 100 * evaluation.pixelAccuracy, meanIoU: 100 * evaluation.meanIoU))
    }

    public func checkResumable(from saved: SegmentationConfig) throws { try config.checkResumable(from: saved.namedAsToday) }

    /// The saved state of the run in `folder` (its settings with model names as today), or nil
    /// where it holds no checkpoint.
    public static func savedRun(in folder: String) throws -> SegmentationState? {
        guard var saved = try savedState(in: folder, kind: "segmentation") else { return nil }
        saved.config = saved.config.namedAsToday
        return saved
    }
}
