import Foundation
import Data
import NN
import Optim
import Tensors

/// What the epoch runner reads of a run's settings; each task's config has these (`TrainConfig`,
/// `SegmentationConfig`). Saved as `config.json` beside the checkpoints.
public protocol RunSettings: Codable, Sendable, Equatable {
    var epochs: Int { get }
    var seed: UInt64 { get }
    var output: String { get }
    /// Progress line (and a `steps.jsonl` line) every this many steps.
    var logEvery: Int { get }
    /// Micro-batches per optimiser step (the loader hands out micro-batches).
    var accumulation: Int { get }
    /// BatchNorm statistics over all processes (SyncBN) rather than per process.
    var syncBN: Bool { get }
    /// Gradients are averaged across processes in buckets of about this many MB.
    var bucketMB: Double { get }
    /// Processes the run was started with: a resume must use as many.
    var worldSize: Int { get }
    /// Every setting, pretty-printed, for `config.json`.
    var json: String { get }
}

extension RunSettings {
    public var accumulation: Int { 1 }
    public var syncBN: Bool { false }
    public var bucketMB: Double { 25 }
    public var worldSize: Int { 1 }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// What one optimiser step's micro-batch needs to know besides its images.
public struct StepContext {
    /// Seed, epoch, iteration and micro-batch: what the tricks' random draws are seeded by.
    public var info: StepInfo
    /// Multiply the loss by this before `backward` (loss scaling over the micro-batches).
    public var lossScale: Float
    /// The processes BatchNorm synchronises over (SyncBN), or nil.
    public var syncBatchNorm: (any Collective)?
}

/// What differs between training tasks (classification, segmentation, detection): how the
/// model, data and optimiser are made, one micro-batch's forward and loss, and what validation
/// measures. `EpochRunner` does the rest: the loop, the non-finite check, progress, checkpoints,
/// logs, curves, resume, Ctrl-C and the processes of a data-parallel run.
public protocol TrainingTask: AnyObject {
    associatedtype Settings: RunSettings
    /// The validation numbers of one epoch besides the loss (top-1 and top-5; pixel accuracy and
    /// mIoU), in %, logged beside the common fields of `metrics.jsonl`.
    associatedtype Metrics: Codable & Sendable & Equatable
    /// What `predict` computes for one image: class log-probabilities; the image and its mask.
    associatedtype Prediction

    var config: Settings { get }
    var model: Module { get }
    /// What `eval` and `predict` need to rebuild and feed the model (in each checkpoint).
    var info: ModelInfo { get }
    /// Hands out micro-batches of `config.accumulation`-th of the batch.
    var trainLoader: DataLoader { get }
    var validationLoader: DataLoader { get }
    var optimizer: SGD { get }
    var schedule: any LearningRateSchedule { get }
    var precision: PrecisionPath { get }
    /// Plug-ins with a hook after each step, their own evaluated model (EMA) or checkpoint state.
    var tricks: [(name: String, trick: any TrainingTrick)] { get }
    /// The curves' title: the model and the data.
    var title: String { get }
    /// Lines for the run's start: the data, the learning rate and what makes it.
    var startLines: [String] { get }

    /// Called before each epoch's first step (fine-tuning freezes all but the head here).
    func beginEpoch(_ epoch: Int)
    /// Forward and backward of one micro-batch, the loss multiplied by `context.lossScale`
    /// before `backward`; returns the loss before that scaling.
    func trainStep(_ batch: Batch, context: StepContext) throws -> Double
    /// The validation loss and metrics of `model`; with several processes, of the whole set.
    func validate(_ model: Module, collective: any Collective) throws -> (loss: Double, metrics: Metrics)
    /// Throws, naming the settings, where a run saved with `saved` may not continue with these.
    func checkResumable(from saved: Settings) throws

    /// One image file's prediction by `model` in evaluation mode, the file read, decoded and
    /// prepared as validation prepares its images; the command line prints and writes it.
    static func predict(_ model: Module, info: ModelInfo, path: String, precision: DataType) throws -> Prediction

    /// The metric that picks `best.safetensors` (higher is better), and its name in the curves.
    static var bestMetric: (name: String, value: KeyPath<Metrics, Double>) { get }
    /// The metrics for the epoch's log line: "top-1 76.10%, top-5 92.90%".
    static func describe(_ metrics: Metrics) -> String
    /// The metadata key of the checkpoints' run state (kept per task, so a checkpoint of one task
    /// is never read as another's).
    static var stateKey: String { get }
}

extension TrainingTask {
    /// The run state saved beside `folder`'s last checkpoint under `stateKey`, or nil where the
    /// folder holds no checkpoint; `kind` names the task in the error for another task's file.
    static func savedState(in folder: String, kind: String) throws -> RunState<Settings, Metrics>? {
        let last = folder + "/last.safetensors"
        guard FileManager.default.fileExists(atPath: last) else { return nil }
        let metadata = try SafeTensors.read(Checkpoint.statePath(last)).metadata
        guard let json = metadata[stateKey], let saved = try? JSONDecoder().decode(RunState<Settings, Metrics>.self, from: Data(json.utf8)) else {
            throw TrainError(Checkpoint.statePath(last), "holds no \(kind) run's state")
        }
        return saved
    }

    public var tricks: [(name: String, trick: any TrainingTrick)] { [] }
    public func beginEpoch(_ epoch: Int) {}
    public func checkResumable(from saved: Settings) throws {}
}
