import Foundation
import Models

/// Settings of a detection run (`tricks detect train`), saved as `config.json` beside its
/// checkpoints. The defaults train `fasterrcnn_cifar_resnet20_fpn` on the built-in scenes;
/// torchvision's detection reference is the model for the rest: SGD with momentum 0.9, weight
/// decay 1e-4, lr 0.02 per 16 images, a linear warmup, and the paper's cosine and no bias decay
/// as options.
public struct DetectionConfig: RunSettings {
    /// `fasterrcnn_` and a ResNet of the zoo and `_fpn`.
    public var model = "fasterrcnn_cifar_resnet20_fpn"
    /// What plain ResNet names mean (`TrainConfig.resnetNames`).
    public var resnetNames: String? = ModelZoo.resnetNames
    /// "scenes": the built-in garment scenes (`GarmentDetectionScenes`); a Pascal VOC folder
    /// (`VOC2007` or a `VOCdevkit` holding it); or a COCO annotation file (`.json`, its images in
    /// `images`).
    public var data = "scenes"
    /// COCO: the folder of the training images; the validation annotation file and its images.
    public var images: String?
    public var valData: String?
    public var valImages: String?
    /// VOC: the training and validation splits (the paper: trainval and test of VOC 2007).
    public var trainSplit = "trainval"
    public var valSplit = "test"
    public var trainScenes = 2_000
    public var valScenes = 500
    public var sceneSize = 128
    public var epochs = 8
    public var batchSize = 4
    /// The rate after warmup; nil: torchvision's 0.02 per 16 images for photos (0.005 at batch
    /// 4), and 0.02 for the CIFAR ResNets' narrow detectors, which trained best with it from
    /// scratch on the built-in scenes (VOC07 mAP 49.5% after 3 epochs of 1,000).
    public var lr: Double?
    public var momentum = 0.9
    public var weightDecay = 1e-4
    public var schedule = ScheduleKind.cosine
    /// Step schedule milestones in epochs (default: 2/3 and 8/9 of the run, as torchvision's 16 and 22 of 26).
    public var lrSteps: [Int]?
    /// Linear warmup over this many epochs (the paper's section 3.1; torchvision warms up over
    /// 1,000 iterations); nil: 1 epoch, or a quarter of a shorter run.
    public var warmupEpochs: Double?
    /// The paper's no-bias-decay: no weight decay on biases and normalisation parameters.
    public var noBiasDecay = true
    /// A classification checkpoint (`tricks train`) or torchvision/timm ResNet weights whose
    /// weights start the backbone (the classifier is left out).
    public var backbone: String?
    /// Whole-detector weights (a checkpoint of `tricks detect train`, or torchvision's
    /// `fasterrcnn_*_fpn` state dict saved as safetensors) to start from.
    public var weights: String?
    /// torchvision's `trainable_backbone_layers` (0-5): nil means 3 with pretrained weights, 5 without.
    public var trainableBackboneLayers: Int?
    /// The resize of the detection transform and the anchors (one size per pyramid level); nil
    /// means the model's defaults (torchvision's 800/1333 and 32-512 for photos; 128/224 and 8-128 for the CIFAR ResNets).
    public var minSize: Int?
    public var maxSize: Int?
    public var anchorSizes: [Float]?
    /// An exponential moving average of the weights with this decay (timm's `ModelEmaV2`), evaluated
    /// each epoch and saved as `best`; nil or 0: none. A detector takes few steps per epoch, so the
    /// average should remember a few hundred of them (0.998: ~500 steps), not timm's 0.9998.
    public var emaDecay: Double?
    /// fp32, or bf16 where the CPU computes in it natively.
    public var precision = TrainingPrecision.fp32
    public var seed: UInt64 = 0
    public var threads: Int?
    public var workers = 2
    public var output = "runs/detect"
    public var logEvery = 50

    public init() {}

    /// What `--resume` may change.
    public static let changeableOnResume: Set<String> = ["epochs", "threads", "workers", "logEvery", "output"]

    /// Whether the backbone starts from trained weights (torchvision then freezes BatchNorm and
    /// trains the last 3 stages; from scratch it trains every stage with ordinary BatchNorm).
    public var pretrained: Bool { backbone != nil || weights != nil }

    public var trainableLayers: Int { trainableBackboneLayers ?? (pretrained ? 3 : 5) }

    public var learningRate: Double {
        lr ?? (ModelZoo.backboneName(model).hasPrefix("cifar_") ? 0.02 : 0.02 * Double(batchSize) / 16)
    }

    public var warmup: Double { warmupEpochs ?? min(1, Double(epochs) / 4) }

    public func validate() throws {
        guard model.hasPrefix("fasterrcnn_"), model.hasSuffix("_fpn"), ModelZoo.resnetConfig(ModelZoo.backboneName(model)) != nil else {
            throw TrainError("--model", "\(model) is not a detection model: fasterrcnn_, a ResNet of `tricks models` and _fpn "
                             + "(e.g. fasterrcnn_resnet50_fpn, fasterrcnn_cifar_resnet20_fpn)")
        }
        for (flag, value) in [("--epochs", epochs), ("--batch-size", batchSize), ("--train-scenes", trainScenes), ("--val-scenes", valScenes),
                              ("--workers", workers), ("--log-every", logEvery)] where value < 1 {
            throw TrainError(flag, "must be at least 1, got \(value)")
        }
        guard sceneSize >= 32 else { throw TrainError("--scene-size", "must be at least 32, got \(sceneSize)") }
        if let lr, !(lr > 0) { throw TrainError("--lr", "must be positive, got \(lr)") }
        if let warmupEpochs, !(warmupEpochs >= 0 && warmupEpochs < Double(epochs)) {
            throw TrainError("--warmup-epochs", "must be at least 0 and under --epochs (\(epochs)), got \(warmupEpochs)")
        }
        if let layers = trainableBackboneLayers, !(0...5).contains(layers) {
            throw TrainError("--trainable-backbone-layers", "must be 0 to 5 (torchvision's trainable_backbone_layers), got \(layers)")
        }
        if let steps = lrSteps, steps.isEmpty || steps.contains(where: { $0 < 1 || $0 >= epochs }) || steps != steps.sorted() {
            throw TrainError("--lr-steps", "must be increasing epochs between 1 and \(epochs - 1), got \(steps)")
        }
        if let emaDecay, !(emaDecay >= 0 && emaDecay < 1) { throw TrainError("--ema-decay", "must be in [0, 1), got \(emaDecay)") }
        if let minSize, minSize < 32 { throw TrainError("--min-size", "must be at least 32, got \(minSize)") }
        if let maxSize, maxSize < (minSize ?? 32) { throw TrainError("--max-size", "must be at least --min-size, got \(maxSize)") }
        if let anchorSizes, anchorSizes.contains(where: { !($0 > 0) }) {
            throw TrainError("--anchor-sizes", "must be positive, got \(anchorSizes)")
        }
        if data.hasSuffix(".json") && images == nil {
            throw TrainError("--images", "a COCO annotation file (--data \(data)) needs the folder of its images")
        }
        if (valData == nil) != (valImages == nil) && data.hasSuffix(".json") {
            throw TrainError("--val-data", "a COCO validation file and --val-images go together")
        }
        guard precision != .fp16 else {
            throw TrainError("--precision", "detection trains in fp32 or bf16 (native, on CPUs with AVX-512 BF16), not fp16")
        }
    }

    /// The detector's settings: the model's defaults, then the sizes given.
    public func detectorSettings(levels: Int) -> FasterRCNNSettings {
        var settings = ModelZoo.backboneName(model).hasPrefix("cifar_") ? FasterRCNNSettings.smallImages(levels: levels) : FasterRCNNSettings()
        if let minSize { settings.minSize = minSize }
        if let maxSize { settings.maxSize = maxSize }
        if let anchorSizes { settings.anchorSizes = anchorSizes }
        return settings
    }

    /// Throws, naming each setting, if this config changes more than `changeableOnResume` from `saved`.
    public func checkResumable(from saved: DetectionConfig) throws {
        let changed = changedSettings(try settingsDictionary(self), try settingsDictionary(saved), ignoring: Self.changeableOnResume)
        guard !changed.isEmpty else { return }
        throw TrainError("--resume", "continues \(output) with its saved settings, but these differ: \(changed.joined(separator: ", ")); "
                         + "only epochs, threads, workers and logging may change")
    }
}
