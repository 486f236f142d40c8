import Data
import Foundation
import Models
import NN
import Optim
import Tensors

/// Validation top-1 and top-5, in %.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    public var top1: Double
    public var top5: Double
    public init(top1: Double, top5: Double) { (self.top1, self.top5) = (top1, top5) }
}

/// A classification run on `EpochRunner`.
public typealias Trainer = EpochRunner<ClassificationTask>

extension EpochRunner where Task == ClassificationTask {
    /// With a `collective` of N processes, each trains on its shard of every epoch with
    /// `config.batchSize` images per step; gradients are averaged across them, so one step
    /// sees N x batchSize images. Every process must call this with the same config.
    /// `tricks` are the plug-ins offered to the run (those its settings turn on become active).
    public convenience init(config: TrainConfig, resume: Bool = false, collective: any Collective = SingleProcess(),
                            tricks registrations: [TrickRegistration] = TrickRegistry.registered) throws {
        try self.init(task: ClassificationTask(config: config, resume: resume, collective: collective, tricks: registrations),
                      collective: collective, resume: resume)
    }

    /// How `--precision` runs here: Float32, native 16-bit kernels, or emulated.
    public var precision: PrecisionPath { task.precision }
}

/// The paper's training procedure (sections 2-5) for image classification on any dataset:
/// one-hot targets through the plug-in tricks (smoothing, mixup, distillation), cross-entropy,
/// SGD with Nesterov momentum and a step or cosine schedule with optional warmup; validation
/// top-1 (which picks `best`) and top-5.
public final class ClassificationTask: TrainingTask {
    public let config: TrainConfig
    public let model: Module
    public let info: ModelInfo
    public let trainLoader: DataLoader
    public let validationLoader: DataLoader
    public let optimizer: SGD
    public let precision: PrecisionPath
    public let schedule: any LearningRateSchedule
    /// The plug-in tricks this run's settings turn on, in registration order.
    public let tricks: [(name: String, trick: any TrainingTrick)]
    public private(set) var startLines: [String]
    public var title: String { "\(config.model) on \(config.data.path)" }

    public static var bestMetric: (name: String, value: KeyPath<ClassificationMetrics, Double>) { ("validation top-1 (%)", \.top1) }
    public static let stateKey = Checkpoint.classificationStateKey
    public static func describe(_ metrics: ClassificationMetrics) -> String {
        String(format: "top-1 %.2f%%, top-5 %.2f%%", metrics.top1, metrics.top5)
    }

    public init(config: TrainConfig, resume: Bool, collective: any Collective, tricks registrations: [TrickRegistration]) throws {
        var config = config
        config.worldSize = collective.size
        try config.validate()
        if let threads = config.threads { try Threads.set(threads) }
        let augment = config.augment ?? (ModelZoo.isSmallImageModel(config.model) ? .small : .imagenet)
        let cropSize = config.inputSize ?? (augment == .imagenet ? 224 : nil)
        var (train, validation) = try config.data.load(minShortSide: augment == .imagenet ? cropSize : nil)
        if let n = config.trainPerClass { train = Subset(train, perClass: n, seed: config.seed) }
        if let n = config.valPerClass { validation = Subset(validation, perClass: n, seed: config.seed) }
        guard validation.classes == train.classes else {
            throw TrainError("--val-data", "validation classes \(validation.classes) differ from training classes \(train.classes)")
        }
        let (mean, std) = try ClassificationTask.statistics(config: config, train: train)
        let normalize = Normalize(mean: mean, std: std)
        let extra = try registrations.compactMap { try $0.augmentation(config) }  // RandAugment, TrivialAugment
        let trainTransform = augment == .small
            ? Pipelines.smallImageTrain(normalize: normalize, size: cropSize, extra: extra)
            : Pipelines.imagenetTrain(size: cropSize!, normalize: normalize, extra: extra)
        let evalTransform = evaluationTransform(augment: augment.rawValue, inputSize: cropSize, normalize: normalize)
        // With gradient accumulation the loader hands out micro-batches.
        trainLoader = try DataLoader(dataset: train, transform: trainTransform, batchSize: config.batchSize / config.accumulation, shuffle: true,
                                     dropLast: config.dropLast, seed: config.seed, workers: config.workers, strict: config.strict,
                                     shard: Shard(index: collective.rank, count: collective.size, even: true))
        validationLoader = try DataLoader(dataset: validation, transform: evalTransform, batchSize: config.batchSize, shuffle: false,
                                          seed: config.seed, workers: config.workers, strict: config.strict,
                                          shard: Shard(index: collective.rank, count: collective.size, even: false))
        let device = config.computeDevice
        let model = try Device.with(device) {
            let model = try ModelZoo.make(config.model, classes: train.classes.count, inputChannels: train.channels)
            try model.initialize(config.initializer, seed: config.seed, zeroGamma: config.zeroGamma)
            if let path = config.finetuneFrom {
                // Everything but the classifier head, which keeps its fresh initialisation.
                try model.loadStateDict(SafeTensors.read(path).entries, source: path, excluding: ClassificationTask.headPrefixes)
            }
            return model
        }
        self.model = model
        precision = PrecisionPath.choose(config.storagePrecision, on: device)
        // Small-image models are evaluated (and `predict` resizes photos) at the training image size.
        info = ModelInfo(model: config.model, classes: train.classes, inputChannels: train.channels, mean: mean, std: std,
                         augment: augment.rawValue, inputSize: try cropSize ?? train.image(at: 0).width)
        optimizer = try SGD(groups: parameterGroups(model.namedParameters(), weightDecay: config.weightDecay, noBiasDecay: config.noBiasDecay),
                            momentum: config.momentum, nesterov: config.nesterov, masterPrecision: precision.roundedParameters)
        guard trainLoader.batchCount >= config.accumulation else {
            throw TrainError("--batch-size", "\(config.batchSize) leaves no full step in an epoch of \(train.count) images")
        }
        schedule = config.learningRateSchedule(iterationsPerEpoch: trainLoader.batchCount / config.accumulation)
        let context = TrickContext(model: model, modelName: config.model, classes: train.classes.count,
                                   inputChannels: train.channels, device: device)
        tricks = try registrations.compactMap { registration in
            try registration.make(config, context).map { (registration.name, $0) }
        }
        self.config = config
        var lines = ["data: train \(train.summary); validation \(validation.summary)"]
        if device != .cpu { lines.append("device: \(device)") }
        if let note = precision.note(on: device) { lines.append(note) }
        if collective.size > 1 {
            lines.append("data-parallel: \(collective.size) processes x batch \(config.batchSize) = global batch \(config.globalBatchSize); "
                + "\(trainLoader.batchCount / config.accumulation) steps per epoch; BatchNorm statistics \(config.syncBN ? "synchronised (SyncBN)" : "per process")")
        }
        lines.append(String(format: "lr %.5g (%@); parameter groups: %@", config.effectiveLR, config.learningRateRule,
                            optimizer.groups.map { "\($0.name) (\($0.parameters.count) tensors, weight decay \($0.weightDecay))" }.joined(separator: ", ")))
        startLines = lines
        if let path = config.finetuneFrom, !resume { startLines.append(finetuneSummary(from: path)) }
    }


    public func beginEpoch(_ epoch: Int) {
        if config.freezeEpochs > 0 { setFrozen(epoch < config.freezeEpochs) }
    }

    public func validate(_ model: Module, collective: any Collective) throws -> (loss: Double, metrics: ClassificationMetrics) {
        let evaluation = try evaluate(model, loader: validationLoader, collective: collective)
        return (evaluation.loss, ClassificationMetrics(top1: evaluation.top1, top5: evaluation.top5))
    }

    /// Forward and backward of one micro-batch: one-hot targets, then each plug-in trick's
    /// target, batch and loss hooks (smoothing, mixup, distillation), 16-bit rounding and loss
    /// scaling. Returns the (unscaled) loss.
    public func trainStep(_ batch: Batch, context: StepContext) throws -> Double {
        let classes = info.classes.count
        let device = config.computeDevice
        var targets = try smoothedTargets(batch.labels, classes: classes, eps: 0)
        var images = try batch.images.to(device)
        for (_, trick) in tricks { try trick.targets(&targets, labels: batch.labels, classes: classes) }
        for (_, trick) in tricks { try trick.batch(images: &images, targets: &targets, step: context.info) }
        let target = try Tensor(shape: [batch.labels.count, classes], scalars: targets, device: device)
        return try precision.run {
            let logits = try BatchNormSync.$collective.withValue(context.syncBatchNorm) { try model(images) }
            var trickLoss: Tensor?
            for (_, trick) in tricks where trickLoss == nil { trickLoss = try trick.loss(logits: logits, images: images, target: target) }
            let loss = try trickLoss ?? crossEntropy(logits, target: target)
            try scale(loss, by: context.lossScale).backward()
            return Double(try loss.item())
        }
    }

    /// State-dict prefixes of the classifier heads that fine-tuning replaces.
    public static let headPrefixes = ["fc.", "AuxLogits.fc.", "classifier."]

    /// What fine-tuning did, in words: the weights loaded, the head replaced, what trains when.
    func finetuneSummary(from path: String) -> String {
        let names = (model.namedParameters() + model.namedBuffers()).map(\.0)
        let head = names.filter { name in ClassificationTask.headPrefixes.contains { name.hasPrefix($0) } }
        let headModules = Set(head.map { $0.split(separator: ".").dropLast().joined(separator: ".") }).sorted()
        let before = (try? SafeTensors.read(path).entries.first { $0.key.hasSuffix("fc.weight") || $0.key.hasSuffix("classifier.weight") }?.value.shape.first) ?? nil
        let frozen = config.freezeEpochs == 0 ? "every layer trains from the first epoch (--freeze-epochs 0)"
            : "only \(headModules.joined(separator: ", ")) train\(headModules.count == 1 ? "s" : "") in "
                + (config.freezeEpochs == 1 ? "epoch 1, " : "epochs 1-\(config.freezeEpochs), ")
                + "every layer from epoch \(config.freezeEpochs + 1) on"
        return "finetune: \(names.count - head.count) of \(names.count) tensors loaded from \(path); head \(headModules.joined(separator: ", ")) replaced "
            + "(\(before.map { "\($0) outputs there, " } ?? "")\(info.classes.count) classes here, initialised afresh); \(frozen)"
    }

    /// Fine-tuning's frozen phase: only the head trains for the first `freezeEpochs` epochs.
    func setFrozen(_ frozen: Bool) {
        for (name, p) in model.namedParameters() {
            p.requiresGrad = !frozen || ClassificationTask.headPrefixes.contains { name.hasPrefix($0) }
        }
    }

    static func statistics(config: TrainConfig, train: any Dataset) throws -> ([Float], [Float]) {
        if let mean = config.mean, let std = config.std {
            guard mean.count == train.channels, std.count == train.channels else {
                throw TrainError("--mean/--std", "got \(mean.count) and \(std.count) value(s) for \(train.channels)-channel images: give \(train.channels) each")
            }
            return (mean, std)
        }
        if config.data.path == DataSource.builtIn { return (FashionMNIST.mean, FashionMNIST.std) }
        let sample = Subset(train, perClass: max(1, 2000 / train.classes.count), seed: 1)
        return try channelStatistics(sample, strict: config.strict)
    }

}
