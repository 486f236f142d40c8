import Data
import NN
import Tensors

/// Where a micro-batch is in the run, for tricks that draw random numbers per step (mixup) or
/// act on a schedule.
public struct StepInfo: Sendable {
    public var seed: UInt64
    public var epoch: Int
    /// Optimiser steps done before this one.
    public var iteration: Int
    /// The micro-batch within the step (gradient accumulation).
    public var micro: Int

    public init(seed: UInt64, epoch: Int, iteration: Int, micro: Int) {
        (self.seed, self.epoch, self.iteration, self.micro) = (seed, epoch, iteration, micro)
    }
}

/// What a trick may need to know about the run when it is made.
public struct TrickContext {
    /// The model being trained (initialised or fine-tune-loaded already) and its zoo name.
    public var model: Module
    public var modelName: String
    public var classes: Int
    public var inputChannels: Int
    /// Where the model trains: a trick's own models (a teacher) go there too.
    public var device: Device

    public init(model: Module, modelName: String, classes: Int, inputChannels: Int, device: Device) {
        (self.model, self.modelName, self.classes, self.inputChannels, self.device) = (model, modelName, classes, inputChannels, device)
    }
}

/// One of the paper's training tricks (or a new one) as a plug-in of the trainer: it acts
/// only through these hooks, each of which does nothing unless the trick implements it. The
/// trainer calls every active trick's hook in registration order (`TrickRegistry.registered`).
public protocol TrainingTrick: AnyObject {
    /// Changes the [N x K] target distributions made from a micro-batch's labels (label smoothing).
    func targets(_ targets: inout [Float], labels: [Int], classes: Int) throws
    /// Changes a micro-batch's images and targets (mixup).
    func batch(images: inout Tensor, targets: inout [Float], step: StepInfo) throws
    /// The loss to minimise, from the student's logits, the images and the targets
    /// (distillation); nil keeps the soft-target cross-entropy. The first trick that answers wins.
    func loss(logits: Tensor, images: Tensor, target: Tensor) throws -> Tensor?
    /// After each optimiser step (an EMA of the weights would update here).
    func afterStep(model: Module, step: StepInfo) throws
    /// The model to evaluate and to save as `best` instead of the trained one (an EMA's copy).
    func evaluationModel(for model: Module) -> Module?
    /// This trick's state, saved in the checkpoint's `.state.safetensors` and restored on
    /// resume, so that a resumed run continues exactly.
    func checkpointState() throws -> [String: [Float]]
    func restore(_ state: [String: [Float]]) throws
}

extension TrainingTrick {
    public func targets(_ targets: inout [Float], labels: [Int], classes: Int) throws {}
    public func batch(images: inout Tensor, targets: inout [Float], step: StepInfo) throws {}
    public func loss(logits: Tensor, images: Tensor, target: Tensor) throws -> Tensor? { nil }
    public func afterStep(model: Module, step: StepInfo) throws {}
    public func evaluationModel(for model: Module) -> Module? { nil }
    public func checkpointState() throws -> [String: [Float]] { [:] }
    public func restore(_ state: [String: [Float]]) throws {}
}

/// How a trick joins BagOfTricks: its name, its settings (which become command-line flags and
/// config-file keys), their checks, which recipe and ablation row turn it on (`Procedure.steps`),
/// and how to make it for a run. One of these per trick file, listed once in `TrickRegistry.registered`.
public struct TrickRegistration: Sendable {
    /// As the paper names it; the ablation row is "+ <name>".
    public let name: String
    public let settings: [any AnySetting]
    /// Throws a `TrainError` naming the flag when a setting is out of range.
    public let validate: @Sendable (TrainConfig) throws -> Void
    /// Turns the trick on with the paper's values (its ablation row, and `recipe` and later).
    public let enable: @Sendable (inout TrainConfig) -> Void
    /// The first recipe that turns it on (nil: none does).
    public let recipe: Recipe?
    /// Whether `tricks ablate` gives it a row (the paper's tricks do; additions such as EMA not).
    public let inAblation: Bool
    /// Regularises: pays only in long training (the ablation's budget warning).
    public let paysInLongTraining: Bool
    /// Needs `--teacher` to run (distillation).
    public let needsTeacher: Bool
    /// The trick for a run, or nil when its settings leave it off.
    public let make: @Sendable (TrainConfig, TrickContext) throws -> (any TrainingTrick)?
    /// A per-image augmentation for the training pipeline, run by the loader's workers on
    /// [0, 255] images after the crop and flip and before normalisation (RandAugment), or nil.
    public let augmentation: @Sendable (TrainConfig) throws -> (any Transform)?

    public init(name: String, settings: [any AnySetting], recipe: Recipe? = .full, inAblation: Bool = true,
                paysInLongTraining: Bool = false, needsTeacher: Bool = false,
                validate: @escaping @Sendable (TrainConfig) throws -> Void,
                enable: @escaping @Sendable (inout TrainConfig) -> Void,
                augmentation: @escaping @Sendable (TrainConfig) throws -> (any Transform)? = { _ in nil },
                make: @escaping @Sendable (TrainConfig, TrickContext) throws -> (any TrainingTrick)? = { _, _ in nil }) {
        (self.name, self.settings, self.recipe, self.inAblation) = (name, settings, recipe, inAblation)
        (self.paysInLongTraining, self.needsTeacher) = (paysInLongTraining, needsTeacher)
        (self.validate, self.enable, self.make, self.augmentation) = (validate, enable, make, augmentation)
    }
}
