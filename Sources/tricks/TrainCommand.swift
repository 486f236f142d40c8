import ArgumentParser
import Data
import Foundation
import NN
import Train

/// The settings a run has when neither a flag nor a config file gives them, for `--help`.
private let defaults = TrainConfig()

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model with the paper's baseline procedure; checkpoints, metrics.jsonl and curves.svg go to --output.")

    @Option(help: "JSON file with any of the settings; flags override it.")
    var config: String?

    @Option(help: "Model name (see `tricks models`; default: \(defaults.model)).")
    var model: String?

    @OptionGroup var data: DataOptions

    @Option(help: "small (pad + crop + flip) or imagenet (the paper's pipeline). Default: small for small-image models (cifar_*, lenet5).")
    var augment: Augmentation?

    @Option(parsing: .unconditional, help: "Crop size (imagenet pipeline: 224).")
    var inputSize: Int?

    @Option(help: "Per-channel mean in [0, 255], comma-separated (default: computed from the data).")
    var mean: FloatList?

    @Option(help: "Per-channel standard deviation in [0, 255], comma-separated.")
    var std: FloatList?

    @Option(name: [.customShort("b"), .long], parsing: .unconditional, help: "Images per step (default: \(defaults.batchSize)).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Training epochs (default: \(defaults.epochs)).")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Learning rate (default: \(TrainConfig.defaultLR); --lr-per-256 scales it with the batch instead; either wins over a --recipe).")
    var lr: Double?

    @Option(name: .customLong("sched"), help: "LR schedule: step, cosine or constant (default: \(defaults.schedule.rawValue)).")
    var schedule: ScheduleKind?

    @Option(name: .customLong("lr-steps"), help: "Epochs at which the step schedule divides the LR by 10, comma-separated (default: 50% and 75% of training).")
    var milestones: String?

    @Option(parsing: .unconditional, help: "Linear LR warmup from 0 over this many epochs (default: \(defaults.warmupEpochs)).")
    var warmupEpochs: Double?

    @Option(parsing: .unconditional, help: "SGD momentum (default: \(defaults.momentum)).")
    var momentum: Double?

    @Flag(help: "Plain momentum instead of Nesterov's (NAG).")
    var noNesterov = false

    @Option(name: [.customLong("wd"), .customLong("weight-decay")], parsing: .unconditional, help: "Weight decay (default: \(defaults.weightDecay)).")
    var weightDecay: Double?

    @Option(name: .customLong("init"), help: "Weight initialisation: xavier (the paper) or kaiming (default: \(defaults.initializer.rawValue)).")
    var initializer: Initializer?

    @Option(help: "Random seed (weights, data order, augmentation; default: \(defaults.seed)).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "oneDNN threads (default: all cores).")
    var threads: Int?

    @Option(help: "Where to train: cpu (oneDNN), cuda (an NVIDIA GPU: CUDA, cuDNN and cuBLAS loaded at run time), auto (cuda where it loads, else cpu) or reference (plain Swift loops: slow, for checking a backend; default: \(defaults.device.rawValue)).")
    var device: DeviceChoice?

    @Option(name: [.customShort("j"), .long], parsing: .unconditional, help: "Data loading threads (default: \(defaults.workers)).")
    var workers: Int?

    @Flag(help: "Keep the last partial batch of each epoch.")
    var keepLast = false

    @Option(help: "Train on only this many images per class.")
    var trainPerClass: Int?

    @Option(help: "Validate on only this many images per class.")
    var valPerClass: Int?

    @Option(help: "Output folder for checkpoints, logs and plots (default: runs/MODEL, or the config file's \"output\").")
    var output: String?

    @Option(parsing: .unconditional, help: "Progress line every N steps when output is not a terminal (default: \(defaults.logEvery)).")
    var logEvery: Int?

    @Flag(help: "Stop at an unreadable image instead of skipping it.")
    var strict = false

    @Flag(help: "Continue the run in --output from its last.safetensors, with the settings it was started with (OUTPUT/config.json); only epochs, logging, workers, threads, precision and device may change.")
    var resume = false

    @Flag(help: "Start again in an --output folder that holds an earlier run, deleting its checkpoints and logs.")
    var overwrite = false

    @OptionGroup var tricks: TrickOptions

    @OptionGroup var distributed: DistributedOptions

    /// The settings of the run: the defaults, then the recipe (from --recipe or the config
    /// file), then the config file's keys, then the flags, so that what the user gives wins over
    /// the recipe. With --resume, the run's saved settings take the place of all but the flags,
    /// and flags may change only what is safe to change.
    func resolved() throws -> TrainConfig {
        let c = try resolvedFromUser()
        guard resume else { return c }
        // Said before any data is read.
        guard FileManager.default.fileExists(atPath: c.output + "/last.safetensors"), let saved = try TrainConfig.savedRun(in: c.output) else {
            throw CommandError("--resume: \(c.output) holds no run to continue (no last.safetensors and config.json); "
                               + "start one there without --resume")
        }
        let continued = config == nil ? try applyFlags(over: saved) : c
        try continued.checkResumable(from: saved)
        return continued
    }

    private func resolvedFromUser() throws -> TrainConfig {
        // A config file's data folders are recorded from the root too (relative to where the run starts).
        let file = try config.map { path in
            (path: path, settings: try TrainConfig.load(path).withAbsoluteData, keys: try TrainConfig.keys(in: path))
        }
        var given = try applyFlags(over: file?.settings ?? TrainConfig())
        if output == nil && !(file?.keys.contains("output") ?? false) { given.output = "runs/\(given.model)" }
        guard let recipe = tricks.recipe ?? file?.settings.recipe else { return given }
        // The recipe reads the model, epochs and device the user chose (ResNet-D of the model,
        // warmup from the epochs, the precision the device computes in).
        var base = TrainConfig()
        (base.model, base.epochs, base.device) = (given.model, given.epochs, given.device)
        recipe.apply(to: &base)
        var c = try applyFlags(over: try file.map { try TrainConfig.load($0.path, over: base).withAbsoluteData } ?? base)
        (c.model, c.recipe, c.output) = (base.model, recipe, given.output)
        return c
    }

    private func applyFlags(over base: TrainConfig) throws -> TrainConfig {
        var c = base
        if lr != nil && tricks.lrPer256 != nil {
            throw CommandError("--lr and --lr-per-256 both given: --lr is the learning rate itself, --lr-per-256 scales it with the batch; keep one")
        }
        if let model { c.model = model }
        data.apply(to: &c.data)
        if let augment { c.augment = augment }
        if let inputSize { c.inputSize = inputSize }
        if let mean { c.mean = mean.values }
        if let std { c.std = std.values }
        if let batchSize { c.batchSize = batchSize }
        if let epochs { c.epochs = epochs }
        if let lr { c.learningRate = .absolute(lr) }
        if let schedule { c.schedule = schedule }
        if let milestones {
            let values = milestones.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.allSatisfy({ $0 != nil }) else { throw CommandError("--lr-steps: expected comma-separated epochs, got \(milestones)") }
            c.milestones = values.map { $0! }
        }
        if let warmupEpochs { c.warmupEpochs = warmupEpochs }
        if let momentum { c.momentum = momentum }
        if noNesterov { c.nesterov = false }
        if let weightDecay { c.weightDecay = weightDecay }
        if let initializer { c.initializer = initializer }
        if let seed { c.seed = seed }
        if let threads { c.threads = threads }
        if let device { c.device = device }
        if let workers { c.workers = workers }
        if keepLast { c.dropLast = false }
        if let trainPerClass { c.trainPerClass = trainPerClass }
        if let valPerClass { c.valPerClass = valPerClass }
        if let output { c.output = (output as NSString).standardizingPath }  // "runs/x/" -> "runs/x": no "//" in what is printed
        if let logEvery { c.logEvery = logEvery }
        if strict { c.strict = true }
        try tricks.apply(to: &c)
        distributed.apply(to: &c)
        return c
    }

    func run() throws { try run(resolved()) }

    func run(_ config: TrainConfig) throws {
        var config = config
        let (collective, mpi) = try distributed.collective(config: &config)
        let primary = collective.rank == 0
        if primary && !resume { try clearForNewRun(config.output, overwrite: overwrite) }
        if resume, let state = Checkpoint.recordedState(config.output + "/last.safetensors"), state.epoch >= config.epochs {
            if primary {
                print("\(config.output) has finished its \(counted(config.epochs, "epoch")): nothing to do "
                      + "(give --epochs with more to train further)")
            }
            return
        }
        if primary {
            print("settings: \(config.summary) (all in \(config.output)/config.json)")
            for warning in config.warnings { print("warning: \(warning)") }
        }
        let trainer = try Trainer(config: config, resume: resume, collective: collective)
        if primary {
            print("model: \(config.model), \(trainer.model.parameterCount) parameters, \(trainer.info.classes.count) classes; "
                  + "\(counted(trainer.trainLoader.batchCount, "step")) per epoch")
        }
        let state = try trainer.run()
        mpi?.finalize()
        // Stopped by Ctrl-C (the checkpoint is written): the shell's status for SIGINT.
        if state.epoch < config.epochs { throw ExitCode(130) }
        if primary, let last = state.history.last, state.epoch == config.epochs {
            print(String(format: "final: top-1 %.2f%%, top-5 %.2f%% (best top-1 %.2f%%) after %d epochs; checkpoints in %@",
                         last.top1, last.top5, state.best, config.epochs, config.output))
        }
    }
}

extension TrainConfig {
    var withAbsoluteData: TrainConfig {
        var copy = self
        copy.data = data.absolute
        return copy
    }
}

/// A new run (not `--resume`) into `folder`: refused if an earlier run is there, unless
/// `overwrite`, which deletes that run's checkpoints and logs first.
func clearForNewRun(_ folder: String, overwrite: Bool) throws {
    let earlier = earlierRunFiles(in: folder)
    guard !earlier.isEmpty else { return }
    guard overwrite else {
        throw CommandError("\(folder) already holds a run (\(earlier.joined(separator: ", "))): continue it with --resume, "
                           + "start again there with --overwrite (its checkpoints and logs are deleted), or choose another --output")
    }
    try removeEarlierRun(in: folder)
}
