import Data
import Foundation
import Models
import NN
import Optim
import Synchronization
import Tensors

/// Set by Ctrl-C: the trainer finishes the current step, writes a checkpoint and returns.
let interrupted = Atomic<Bool>(false)

/// The paper's baseline training procedure (section 2) on any dataset: SGD with Nesterov
/// momentum, a step or cosine schedule with optional warmup, evaluation every epoch,
/// checkpoints that resume exactly, a JSON-lines log and SVG curves.
public final class Trainer {
    public let config: TrainConfig
    public let model: Module
    public let info: ModelInfo
    public let trainLoader: DataLoader
    public let validationLoader: DataLoader
    public let optimizer: SGD
    /// How `--precision` runs here: Float32, native 16-bit kernels, or emulated.
    public let precision: PrecisionPath
    public let schedule: any LearningRateSchedule
    /// The plug-in tricks this run's settings turn on, in registration order.
    public let tricks: [(name: String, trick: any TrainingTrick)]
    /// The processes training together (mpirun), or this one alone.
    public let collective: any Collective
    /// Only rank 0 writes checkpoints, logs and plots.
    var isPrimary: Bool { collective.rank == 0 }
    public private(set) var state: TrainingState
    /// Where lines for people go (standard output by default).
    public var log: (String) -> Void = { print($0); fflush(nil) }
    /// Called after every optimiser step.
    public var afterStep: ((TrainingState) -> Void)?

    /// Asks the run to stop after the current step and write a checkpoint, as Ctrl-C does.
    public static func requestStop() { interrupted.store(true, ordering: .relaxed) }

    public var lastCheckpoint: String { config.output + "/last.safetensors" }
    public var bestCheckpoint: String { config.output + "/best.safetensors" }

    /// With a `collective` of N processes, each trains on its shard of every epoch with
    /// `config.batchSize` images per step; gradients are averaged across them, so one step
    /// sees N x batchSize images. Every process must call this with the same config.
    /// `tricks` are the plug-ins offered to the run (those its settings turn on become active).
    public init(config: TrainConfig, resume: Bool = false, collective: any Collective = SingleProcess(),
                tricks registrations: [TrickRegistration] = TrickRegistry.registered) throws {
        var config = config
        config.worldSize = collective.size
        try config.validate()
        self.collective = collective
        if let threads = config.threads { try Threads.set(threads) }
        let augment = config.augment ?? (ModelZoo.isSmallImageModel(config.model) ? "small" : "imagenet")
        let cropSize = config.inputSize ?? (augment == "imagenet" ? 224 : nil)
        var (train, validation) = try config.data.load(minShortSide: augment == "imagenet" ? cropSize : nil)
        if let n = config.trainPerClass { train = Subset(train, perClass: n, seed: config.seed) }
        if let n = config.valPerClass { validation = Subset(validation, perClass: n, seed: config.seed) }
        guard validation.classes == train.classes else {
            throw TrainError("--val-data", "validation classes \(validation.classes) differ from training classes \(train.classes)")
        }
        let (mean, std) = try Trainer.statistics(config: config, train: train)
        let normalize = Normalize(mean: mean, std: std)
        let extra = try registrations.compactMap { try $0.augmentation(config) }  // RandAugment, TrivialAugment
        let trainTransform = augment == "small"
            ? Pipelines.smallImageTrain(normalize: normalize, size: cropSize, extra: extra)
            : Pipelines.imagenetTrain(size: cropSize!, normalize: normalize, extra: extra)
        let evalTransform = evaluationTransform(augment: augment, inputSize: cropSize, normalize: normalize)
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
            try model.initialize(Initializer(rawValue: config.initializer)!, seed: config.seed, zeroGamma: config.zeroGamma)
            if let path = config.finetuneFrom {
                // Everything but the classifier head, which keeps its fresh initialisation.
                try model.loadStateDict(SafeTensors.read(path).entries, source: path, excluding: Trainer.headPrefixes)
            }
            return model
        }
        self.model = model
        precision = PrecisionPath.choose(config.storagePrecision, on: device)
        // Small-image models are evaluated (and `predict` resizes photos) at the training image size.
        info = ModelInfo(model: config.model, classes: train.classes, inputChannels: train.channels, mean: mean, std: std,
                         augment: augment, inputSize: try cropSize ?? train.image(at: 0).width)
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
        state = TrainingState(epoch: 0, batch: 0, iteration: 0, bestTop1: -1, history: [], config: config,
                              lossScaler: precision.scalesLoss ? DynamicLossScaler() : nil)
        if collective.rank != 0 { log = { _ in } }
        log("data: train \(train.summary); validation \(validation.summary)")
        if device != .cpu { log("device: \(device)") }
        if let note = precision.note(on: device) { log(note) }
        if collective.size > 1 {
            log("data-parallel: \(collective.size) processes x batch \(config.batchSize) = global batch \(config.globalBatchSize); "
                + "\(trainLoader.batchCount / config.accumulation) steps per epoch; BatchNorm statistics \(config.syncBN ? "synchronised (SyncBN)" : "per process")")
        }
        log(String(format: "lr %.5g (%@); parameter groups: %@", config.effectiveLR, config.learningRateRule,
                   optimizer.groups.map { "\($0.name) (\($0.parameters.count) tensors, weight decay \($0.weightDecay))" }.joined(separator: ", ")))
        if let path = config.finetuneFrom, !resume { log(finetuneSummary(from: path)) }
        if resume && isPrimary { try restore() }
        try synchronizeFromPrimary()
    }

    /// Every process starts from rank 0's weights, BatchNorm statistics, optimiser buffers and,
    /// after a resume, its training state (only rank 0 reads the checkpoint, so other machines
    /// need no copy of it).
    func synchronizeFromPrimary() throws {
        guard collective.size > 1 else { return }
        for (_, tensor) in model.namedParameters() + model.namedBuffers() { try broadcast(tensor) }
        // The small things as JSON; momentum and master weights as raw floats after it.
        let header = PrimarySnapshot(state: state, counters: Dictionary(uniqueKeysWithValues: model.namedCounters()),
                                     momentum: try optimizer.buffers.keys.sorted(), masters: try optimizer.masters.keys.sorted(),
                                     trickState: isPrimary ? try trickState() : [:])
        let bytes = try collective.broadcast(isPrimary ? Array(try JSONEncoder().encode(header)) : [])
        let received = try JSONDecoder().decode(PrimarySnapshot.self, from: Data(bytes))
        let sizes = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.0, $0.1.count) })
        func receive(_ names: [String], _ values: [String: [Float]]) throws -> [String: [Float]] {
            try Dictionary(uniqueKeysWithValues: names.map { name in
                guard let size = sizes[name] else { throw TrainError(lastCheckpoint, "optimiser state for unknown parameter \(name)") }
                var floats = values[name] ?? [Float](repeating: 0, count: size)
                try floats.withUnsafeMutableBytes { try collective.broadcast($0, root: 0) }
                return (name, floats)
            })
        }
        let momentum = try receive(received.momentum, optimizer.buffers), masters = try receive(received.masters, try optimizer.masters)
        if !isPrimary {
            try optimizer.loadBuffers(momentum, masters: masters)
            for (path, module) in model.namedModules() {
                for (name, _) in module.counters {
                    if let value = received.counters[path.isEmpty ? name : path + "." + name] { module.setCounter(name, to: value) }
                }
            }
            try restoreTricks(received.trickState)
            state = received.state
            state.config = config
        }
    }

    /// Rank 0's values of `tensor` on every process.
    func broadcast(_ tensor: Tensor) throws {
        var values = try tensor.scalars
        try values.withUnsafeMutableBytes { try collective.broadcast($0, root: 0) }
        if !isPrimary { try tensor.assign(values) }
    }

    /// State-dict prefixes of the classifier heads that fine-tuning replaces.
    public static let headPrefixes = ["fc.", "AuxLogits.fc.", "classifier."]

    /// What fine-tuning did, in words: the weights loaded, the head replaced, what trains when.
    func finetuneSummary(from path: String) -> String {
        let names = (model.namedParameters() + model.namedBuffers()).map(\.0)
        let head = names.filter { name in Trainer.headPrefixes.contains { name.hasPrefix($0) } }
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
            p.requiresGrad = !frozen || Trainer.headPrefixes.contains { name.hasPrefix($0) }
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

    /// Continues from `last.safetensors` in the output folder.
    func restore() throws {
        guard FileManager.default.fileExists(atPath: lastCheckpoint) else {
            throw TrainError("--resume", "no checkpoint at \(lastCheckpoint)")
        }
        let (saved, momentum, masters, trickState) = try Checkpoint.loadState(lastCheckpoint)
        let metadata = try SafeTensors.read(lastCheckpoint)
        let savedInfo = ModelInfo(metadata: metadata.metadata)
        guard let savedInfo, savedInfo.model == info.model, savedInfo.classes == info.classes else {
            throw TrainError(lastCheckpoint, "was written for model \(savedInfo?.model ?? "?") with \(savedInfo?.classes.count ?? 0) classes, "
                             + "not \(info.model) with \(info.classes.count)")
        }
        guard saved.config.worldSize == collective.size else {
            throw TrainError(lastCheckpoint, "was written by a run of \(saved.config.worldSize) process(es); this one has \(collective.size). "
                             + "Resume with the same number (mpirun -np \(saved.config.worldSize)): the data order and the global batch depend on it")
        }
        try model.loadStateDict(metadata.entries, source: lastCheckpoint)
        try optimizer.loadBuffers(momentum, masters: masters)
        try restoreTricks(trickState)
        let scaler = state.lossScaler
        state = saved
        state.config = config
        // The run may resume in another precision: loss scaling only where this one emulates.
        state.lossScaler = precision.scalesLoss ? saved.lossScaler ?? scaler : nil
        log("resumed from \(lastCheckpoint): epoch \(saved.epoch + 1), batch \(saved.batch), iteration \(saved.iteration)")
    }

    /// Trains to the configured number of epochs (or until Ctrl-C) and returns the final state.
    public func run() throws -> TrainingState {
        if isPrimary {
            try FileManager.default.createDirectory(atPath: config.output, withIntermediateDirectories: true)
            try AtomicFile.write(Array((config.json + "\n").utf8), to: config.output + "/config.json")
        }
        interrupted.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
        defer { signal(SIGINT, SIG_DFL) }
        let progress = Progress(every: config.logEvery)
        let k = config.accumulation
        let steps = trainLoader.batchCount / k
        while state.epoch < config.epochs {
            model.train()
            if config.freezeEpochs > 0 { setFrozen(state.epoch < config.freezeEpochs) }
            let iterator = trainLoader.epoch(state.epoch, startingAt: state.batch)
            let start = ContinuousClock.now
            var (lossSum, lossCount, images) = (0.0, 0, 0)
            var lr = schedule.rate(state.iteration)
            while state.batch / k < steps {
                lr = schedule.rate(state.iteration)
                optimizer.zeroGrad()
                var value = 0.0
                for micro in 0..<k {
                    guard let batch = try iterator.next() else { throw TrainError("data", "epoch \(state.epoch + 1) ended early") }
                    value += try microStep(batch, micro: micro) / Double(k)
                    images += batch.labels.count * collective.size
                }
                // The mean loss over the processes, then the gradients, in buckets.
                value = try collective.allreduceSum([value])[0] / Double(collective.size)
                try averageGradients()
                guard value.isFinite else {
                    throw TrainError("step \(state.iteration + 1) (epoch \(state.epoch + 1), batch \(state.batch / k + 1))",
                                     "loss is \(value); stopping. The last good checkpoint is \(lastCheckpoint); try a lower --lr")
                }
                // Unscale with the scale the gradients were made with, before the scaler updates it.
                let usedScale = lossScale
                var apply = true
                if state.lossScaler != nil { apply = state.lossScaler!.update(gradientsFinite: try optimizer.gradientsAreFinite()) }
                // Gradients hold the sum over processes: the mean is taken here.
                if apply { try optimizer.step(lr: lr, gradientScale: 1 / (usedScale * Double(collective.size))) }
                state.iteration += 1
                state.batch += k
                lossSum += value
                lossCount += 1
                let elapsed = (ContinuousClock.now - start).seconds
                let rate = Double(images) / max(elapsed, 1e-9)
                if isPrimary { progress.update(epoch: state.epoch + 1, epochs: config.epochs, step: state.batch / k, steps: steps, loss: lossSum / Double(lossCount),
                                lr: lr, imagesPerSecond: rate, eta: elapsed / Double(lossCount) * Double(steps - state.batch / k)) }
                if isPrimary && state.iteration % config.logEvery == 0 {
                    try appendLine(["iteration": Double(state.iteration), "epoch": Double(state.epoch + 1), "loss": value, "lr": lr,
                                    "imagesPerSecond": rate], to: "steps.jsonl")
                }
                for (_, trick) in tricks {
                    try trick.afterStep(model: model, step: StepInfo(seed: config.seed, epoch: state.epoch, iteration: state.iteration, micro: 0))
                }
                afterStep?(state)
                // Ctrl-C on any process stops all of them after the same step.
                if try collective.allreduceSum([interrupted.load(ordering: .relaxed) ? 1.0 : 0])[0] > 0 {
                    iterator.cancel()
                    if isPrimary { try Checkpoint.save(model, info: info, state: state, optimizer: optimizer, tricks: trickState(), to: lastCheckpoint) }
                    log("\ninterrupted: checkpoint written to \(lastCheckpoint); continue with --resume")
                    return state
                }
            }
            iterator.cancel()
            let trainSeconds = (ContinuousClock.now - start).seconds
            // With per-process BatchNorm statistics, every process evaluates (and rank 0 saves) rank 0's.
            if !config.syncBN { for (_, buffer) in model.namedBuffers() { try broadcast(buffer) } }
            let evaluated = evaluatedModel
            let evaluation = try evaluate(evaluated, loader: validationLoader, collective: collective)
            let record = EpochRecord(epoch: state.epoch, trainLoss: lossCount > 0 ? lossSum / Double(lossCount) : .nan,
                                     valLoss: evaluation.loss, top1: evaluation.top1, top5: evaluation.top5, lr: lr,
                                     seconds: trainSeconds, imagesPerSecond: Double(images) / max(trainSeconds, 1e-9))
            state.history.append(record)
            state.epoch += 1
            state.batch = 0
            let improved = evaluation.top1 > state.bestTop1
            if improved { state.bestTop1 = evaluation.top1 }
            if isPrimary {
                let tricksState = try trickState()
                try Checkpoint.save(model, info: info, state: state, optimizer: optimizer, tricks: tricksState, to: lastCheckpoint)
                if improved { try Checkpoint.save(evaluated, info: info, state: state, optimizer: optimizer, tricks: tricksState, to: bestCheckpoint) }
                var line = record
                line.epoch += 1  // counted from 1, as the progress lines and steps.jsonl count
                try appendLine(line, to: "metrics.jsonl")
                let plot = trainingCurvesSVG(state.history, steps: StepPoint.read(config.output + "/steps.jsonl"), stepsPerEpoch: steps,
                                             title: "\(config.model) on \(config.data.path)")
                try AtomicFile.write(Array(plot.utf8), to: config.output + "/curves.svg")
            }
            log(String(format: "epoch %d/%d: train loss %.4f, val loss %.4f, top-1 %.2f%%, top-5 %.2f%%, %.0fs (%.1f img/s)%@",
                       record.epoch + 1, config.epochs, record.trainLoss, record.valLoss, record.top1, record.top5, record.seconds,
                       record.imagesPerSecond, improved ? ", best so far" : ""))
            if trainLoader.skips.count > 0 { log("skipped \(trainLoader.skips.count) unreadable training image(s) so far") }
            if let scaler = state.lossScaler, scaler.skippedSteps > 0 {
                log("loss scale \(scaler.scale); \(scaler.skippedSteps) step(s) skipped on overflow so far")
            }
        }
        return state
    }

    var lossScale: Double { state.lossScaler?.scale ?? 1 }

    /// The model evaluated each epoch and saved as `best`: a trick's (an EMA's) or the trained one.
    var evaluatedModel: Module {
        tricks.lazy.compactMap { $0.trick.evaluationModel(for: self.model) }.first ?? model
    }

    /// Every active trick's checkpoint state, keyed "<trick_name>.<key>".
    func trickState() throws -> [String: [Float]] {
        var all: [String: [Float]] = [:]
        for (name, trick) in tricks {
            for (key, values) in try trick.checkpointState() { all[Trainer.stateKey(name) + "." + key] = values }
        }
        return all
    }

    static func stateKey(_ trickName: String) -> String { trickName.replacingOccurrences(of: " ", with: "_") }

    /// Hands each active trick its part of a checkpoint's trick state.
    func restoreTricks(_ saved: [String: [Float]]) throws {
        for (name, trick) in tricks {
            let prefix = Trainer.stateKey(name) + "."
            try trick.restore(Dictionary(uniqueKeysWithValues: saved.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) }))
        }
    }

    /// Sums every gradient over the processes; the optimiser step divides by their number.
    func averageGradients() throws {
        try allreduceGradients(model.namedParameters().map(\.1), collective: collective, bucketMB: config.bucketMB)
    }

    /// Forward and backward of one micro-batch: one-hot targets, then each plug-in trick's
    /// target, batch and loss hooks (smoothing, mixup, distillation), 16-bit rounding and loss
    /// scaling. Returns the (unscaled) loss.
    func microStep(_ batch: Batch, micro: Int) throws -> Double {
        let classes = info.classes.count
        let device = config.computeDevice
        let step = StepInfo(seed: config.seed, epoch: state.epoch, iteration: state.iteration, micro: micro)
        var targets = try smoothedTargets(batch.labels, classes: classes, eps: 0)
        var images = try batch.images.to(device)
        for (_, trick) in tricks { try trick.targets(&targets, labels: batch.labels, classes: classes) }
        for (_, trick) in tricks { try trick.batch(images: &images, targets: &targets, step: step) }
        let target = try Tensor(shape: [batch.labels.count, classes], scalars: targets, device: device)
        let syncBN: (any Collective)? = config.syncBN && collective.size > 1 ? collective : nil
        return try precision.run {
            let logits = try BatchNormSync.$collective.withValue(syncBN) { try model(images) }
            var trickLoss: Tensor?
            for (_, trick) in tricks where trickLoss == nil { trickLoss = try trick.loss(logits: logits, images: images, target: target) }
            let loss = try trickLoss ?? crossEntropy(logits, target: target)
            try scale(loss, by: Float(lossScale / Double(config.accumulation))).backward()
            return Double(try loss.item())
        }
    }

    /// Appends one JSON line to a log in the output folder (`metrics.jsonl` per epoch,
    /// `steps.jsonl` every `logEvery` steps).
    func appendLine(_ value: some Encodable, to name: String) throws {
        try appendJSONLine(value, to: config.output + "/" + name)
    }
}

/// What rank 0 sends the other processes at start besides the tensors.
struct PrimarySnapshot: Codable {
    var state: TrainingState
    var counters: [String: Int]
    /// Names of the parameters whose momentum / master weights follow, in this order.
    var momentum: [String]
    var masters: [String]
    /// The plug-in tricks' state (small: JSON is fine).
    var trickState: [String: [Float]]
}
