import Foundation
import Models

/// Settings of a segmentation run (`tricks segment train`), saved as `config.json` beside its
/// checkpoints; the defaults are torchvision's FCN recipe scaled to the built-in scenes.
public struct SegmentationConfig: RunSettings {
    /// `fcn_` and a ResNet of the zoo.
    public var model = "fcn_cifar_resnet20"
    /// What plain ResNet names mean (`TrainConfig.resnetNames`); nil in files written before.
    public var resnetNames: String? = ModelZoo.resnetNames
    /// "scenes": the built-in Fashion-MNIST scenes (`GarmentScenes`); or a folder in Pascal
    /// VOC's layout (splits train/val) or ADE20K's (training/validation).
    public var data = "scenes"
    public var trainScenes = 10_000
    public var valScenes = 2_000
    /// The scenes' side, the evaluation size (shorter side) and the centre of the training
    /// rescale (0.5-2x); the training crop.
    public var baseSize = 96
    public var cropSize = 80
    public var epochs = 10
    public var batchSize = 16
    /// torchvision's recipe: 0.02 for 32 images (8 GPUs x 4), poly decay with power 0.9.
    public var lr = 0.01
    public var momentum = 0.9
    public var weightDecay = 1e-4
    /// Weight of the auxiliary head's loss (0 turns the head off).
    public var auxWeight = 0.4
    /// A classification checkpoint whose weights start the backbone (its `fc` is left out).
    public var backbone: String?
    /// fp32, or bf16 where the CPU computes in it natively (no emulation here).
    public var precision = TrainingPrecision.fp32
    public var seed: UInt64 = 0
    public var threads: Int?
    public var workers = 2
    public var output = "runs/segment"
    public var logEvery = 50

    public init() {}

    /// What `--resume` may change.
    public static let changeableOnResume: Set<String> = ["epochs", "threads", "workers", "logEvery", "output"]

    public func validate() throws {
        guard model.hasPrefix("fcn_"), ModelZoo.segmentationNames.contains(model) else {
            throw TrainError("--model", "\(model) is not a segmentation model: fcn_ and a ResNet of `tricks models` (e.g. fcn_cifar_resnet20, fcn_resnet50d)")
        }
        for (flag, value) in [("--epochs", epochs), ("--batch-size", batchSize), ("--train-scenes", trainScenes), ("--val-scenes", valScenes),
                              ("--workers", workers), ("--log-every", logEvery)] where value < 1 {
            throw TrainError(flag, "must be at least 1, got \(value)")
        }
        guard baseSize >= 32 else { throw TrainError("--base-size", "must be at least 32, got \(baseSize)") }
        guard cropSize >= 16, cropSize <= 2 * baseSize else { throw TrainError("--crop-size", "must be between 16 and 2 x --base-size, got \(cropSize)") }
        guard lr > 0 else { throw TrainError("--lr", "must be positive, got \(lr)") }
        guard auxWeight >= 0 else { throw TrainError("--aux-weight", "must be non-negative, got \(auxWeight)") }
        guard precision != .fp16 else {
            throw TrainError("--precision", "segmentation trains in fp32 or bf16 (native, on CPUs with AVX-512 BF16), not fp16")
        }
    }

    /// These settings with the model named as today (files from before `resnetNames` named the
    /// original ResNet `resnet50`).
    public var namedAsToday: SegmentationConfig {
        var config = self
        config.model = ModelZoo.name(model, recordedWith: resnetNames)
        config.resnetNames = ModelZoo.resnetNames
        return config
    }

    /// Throws, naming each setting, if this config changes more than `changeableOnResume` from `saved`.
    public func checkResumable(from saved: SegmentationConfig) throws {
        let changed = changedSettings(try settingsDictionary(self), try settingsDictionary(saved), ignoring: Self.changeableOnResume)
        guard !changed.isEmpty else { return }
        throw TrainError("--resume", "continues \(output) with its saved settings, but these differ: \(changed.joined(separator: ", ")); "
                         + "only epochs, threads, workers and logging may change")
    }
}
