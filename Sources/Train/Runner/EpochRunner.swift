import Data
import Foundation
import NN
import Optim
import Synchronization
import Tensors

/// Set by Ctrl-C: the runner finishes the current step, writes a checkpoint and returns.
let interrupted = Atomic<Bool>(false)

/// The training loop of every task: SGD steps over the task's batches (micro-batches summed
/// into one step, gradients averaged over the processes of a data-parallel run), a stop on a
/// non-finite loss, a progress line with ETA, validation after each epoch, `last` and `best`
/// checkpoints written atomically, `metrics.jsonl`, `steps.jsonl` and `curves.svg`, exact
/// resume from `last`, and Ctrl-C. What differs between tasks is the `TrainingTask`.
public final class EpochRunner<Task: TrainingTask> {
    public typealias State = RunState<Task.Settings, Task.Metrics>
    public let task: Task
    /// The processes training together (mpirun), or this one alone.
    public let collective: any Collective
    public private(set) var state: State
    /// Where lines for people go (standard output by default; nowhere on ranks other than 0).
    public var log: (String) -> Void = { print($0); fflush(nil) }
    /// Called after every optimiser step.
    public var afterStep: ((State) -> Void)?

    public var config: Task.Settings { task.config }
    public var model: Module { task.model }
    public var info: ModelInfo { task.info }
    public var trainLoader: DataLoader { task.trainLoader }
    public var validationLoader: DataLoader { task.validationLoader }
    public var optimizer: SGD { task.optimizer }
    public var lastCheckpoint: String { config.output + "/last.safetensors" }
    public var bestCheckpoint: String { config.output + "/best.safetensors" }
    /// Only rank 0 writes checkpoints, logs and plots.
    var isPrimary: Bool { collective.rank == 0 }

    /// Asks the run to stop after the current step and write a checkpoint, as Ctrl-C does.
    public static func requestStop() { interrupted.store(true, ordering: .relaxed) }

    /// `resume` continues from `last.safetensors` in the output folder.
    public init(task: Task, collective: any Collective = SingleProcess(), resume: Bool = false) throws {
        self.task = task
        self.collective = collective
        state = State(config: task.config, lossScaler: task.precision.scalesLoss ? DynamicLossScaler() : nil)
        if collective.rank != 0 { log = { _ in } }
        for line in task.startLines { log(line) }
        if resume && isPrimary { try restore() }
        try synchronizeFromPrimary()
    }

    /// Trains to the configured number of epochs (or until Ctrl-C) and returns the final state.
    public func run() throws -> State {
        if isPrimary {
            try FileManager.default.createDirectory(atPath: config.output, withIntermediateDirectories: true)
            try AtomicFile.write(Array((config.json + "\n").utf8), to: config.output + "/config.json")
        }
        interrupted.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
        defer { signal(SIGINT, SIG_DFL) }
        // A reader of the log that goes away (`| tee`, which the same Ctrl-C stops) must not
        // kill the run before its checkpoint: its lines then go nowhere, the run goes on. Left
        // so for the rest of the process, whose last lines would meet the same closed pipe.
        signal(SIGPIPE, SIG_IGN)
        let progress = Progress(every: config.logEvery)
        let k = config.accumulation
        let steps = trainLoader.batchCount / k
        let syncBN: (any Collective)? = config.syncBN && collective.size > 1 ? collective : nil
        while state.epoch < config.epochs {
            model.train()
            task.beginEpoch(state.epoch)
            let iterator = trainLoader.epoch(state.epoch, startingAt: state.batch)
            let start = ContinuousClock.now
            var (lossSum, lossCount, images) = (0.0, 0, 0)
            var lr = task.schedule.rate(state.iteration)
            while state.batch / k < steps {
                lr = task.schedule.rate(state.iteration)
                optimizer.zeroGrad()
                var value = 0.0
                for micro in 0..<k {
                    guard let batch = try iterator.next() else { throw TrainError("data", "epoch \(state.epoch + 1) ended early") }
                    let context = StepContext(info: StepInfo(seed: config.seed, epoch: state.epoch, iteration: state.iteration, micro: micro),
                                              lossScale: Float(lossScale / Double(k)), syncBatchNorm: syncBN)
                    value += try task.trainStep(batch, context: context) / Double(k)
                    images += batch.labels.count * collective.size
                }
                // The mean loss over the processes, then the gradients, in buckets.
                value = try collective.allreduceSum([value])[0] / Double(collective.size)
                try allreduceGradients(model.namedParameters().map(\.1), collective: collective, bucketMB: config.bucketMB)
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
                if isPrimary {
                    progress.update(epoch: state.epoch + 1, epochs: config.epochs, step: state.batch / k, steps: steps, loss: lossSum / Double(lossCount),
                                    lr: lr, imagesPerSecond: rate, eta: elapsed / Double(lossCount) * Double(steps - state.batch / k))
                }
                if isPrimary && state.iteration % config.logEvery == 0 {
                    try appendJSONLine(["iteration": Double(state.iteration), "epoch": Double(state.epoch + 1), "loss": value, "lr": lr,
                                        "imagesPerSecond": rate], to: config.output + "/steps.jsonl")
                }
                for (_, trick) in task.tricks {
                    try trick.afterStep(model: model, step: StepInfo(seed: config.seed, epoch: state.epoch, iteration: state.iteration, micro: 0))
                }
                afterStep?(state)
                // Ctrl-C on any process stops all of them after the same step.
                if try collective.allreduceSum([interrupted.load(ordering: .relaxed) ? 1.0 : 0])[0] > 0 {
                    iterator.cancel()
                    if isPrimary { try save(model, to: lastCheckpoint) }
                    log("\ninterrupted: checkpoint written to \(lastCheckpoint); continue with --resume")
                    return state
                }
            }
            iterator.cancel()
            let trainSeconds = (ContinuousClock.now - start).seconds
            // With per-process BatchNorm statistics, every process evaluates (and rank 0 saves) rank 0's.
            if !config.syncBN { for (_, buffer) in model.namedBuffers() { try broadcast(buffer) } }
            let evaluated = evaluatedModel
            let validationStart = ContinuousClock.now
            let (valLoss, metrics) = try task.validate(evaluated, collective: collective)
            let record = EpochResult(epoch: state.epoch + 1, trainLoss: lossCount > 0 ? lossSum / Double(lossCount) : .nan, valLoss: valLoss,
                                     lr: lr, seconds: trainSeconds, imagesPerSecond: Double(images) / max(trainSeconds, 1e-9),
                                     validationSeconds: (ContinuousClock.now - validationStart).seconds, metrics: metrics)
            state.history.append(record)
            state.epoch += 1
            state.batch = 0
            let score = metrics[keyPath: Task.bestMetric.value]
            let improved = score > state.best
            if improved { state.best = score }
            if isPrimary {
                try save(model, to: lastCheckpoint)
                if improved { try save(evaluated, to: bestCheckpoint) }
                try appendJSONLine(record, to: config.output + "/metrics.jsonl")
                let plot = trainingCurvesSVG(state.history, metric: (Task.bestMetric.name, Task.bestMetric.value),
                                             steps: StepPoint.read(config.output + "/steps.jsonl"), stepsPerEpoch: steps,
                                             title: task.title)
                try AtomicFile.write(Array(plot.utf8), to: config.output + "/curves.svg")
            }
            let left = config.epochs - record.epoch
            let eta = remainingRunSeconds(epochSeconds: state.history.map { $0.seconds + ($0.validationSeconds ?? 0) }, epochsLeft: left)
            log(String(format: "epoch %d/%d: train loss %.4f, val loss %.4f, %@, %.0fs (%.1f img/s), validation %.1fs%@%@",
                       record.epoch, config.epochs, record.trainLoss, record.valLoss, Task.describe(metrics), record.seconds,
                       record.imagesPerSecond, record.validationSeconds ?? 0, improved ? ", best so far" : "",
                       left > 0 ? "; \(left) epoch\(left == 1 ? "" : "s") left, ETA \(duration(eta))" : ""))
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
        task.tricks.lazy.compactMap { $0.trick.evaluationModel(for: self.model) }.first ?? model
    }

    func save(_ model: Module, to path: String) throws {
        try Checkpoint.save(model, info: info, state: state, stateKey: Task.stateKey, iteration: state.iteration,
                            optimizer: optimizer, tricks: trickState(), to: path)
    }

    /// Continues from `last.safetensors` in the output folder.
    func restore() throws {
        guard FileManager.default.fileExists(atPath: lastCheckpoint) else {
            throw TrainError("--resume", "no checkpoint at \(lastCheckpoint)")
        }
        let metadata = try SafeTensors.read(lastCheckpoint)
        let savedInfo = ModelInfo(metadata: metadata.metadata)
        guard let savedInfo, savedInfo.model == info.model, savedInfo.classes == info.classes else {
            throw TrainError(lastCheckpoint, "was written for model \(savedInfo?.model ?? "?") with \(savedInfo?.classes.count ?? 0) classes, "
                             + "not \(info.model) with \(info.classes.count)")
        }
        let (saved, optimizerState) = try Checkpoint.loadState(lastCheckpoint, as: State.self, key: Task.stateKey)
        guard saved.config.worldSize == collective.size else {
            throw TrainError(lastCheckpoint, "was written by a run of \(saved.config.worldSize) process(es); this one has \(collective.size). "
                             + "Resume with the same number (mpirun -np \(saved.config.worldSize)): the data order and the global batch depend on it")
        }
        try task.checkResumable(from: saved.config)
        try model.loadStateDict(metadata.entries, source: lastCheckpoint)
        try optimizer.loadBuffers(optimizerState.momentum, masters: optimizerState.masters)
        try restoreTricks(optimizerState.tricks)
        let scaler = state.lossScaler
        state = saved
        state.config = config
        // The run may resume in another precision: loss scaling only where this one emulates.
        state.lossScaler = task.precision.scalesLoss ? saved.lossScaler ?? scaler : nil
        for change in try reconcileLogs(in: config.output, history: state.history, iteration: state.iteration) { log(change) }
        log("resumed from \(lastCheckpoint): epoch \(saved.epoch + 1), batch \(saved.batch), iteration \(saved.iteration)")
    }

    /// Every active trick's checkpoint state, keyed "<trick_name>.<key>".
    func trickState() throws -> [String: [Float]] {
        var all: [String: [Float]] = [:]
        for (name, trick) in task.tricks {
            for (key, values) in try trick.checkpointState() { all[Self.trickKey(name) + "." + key] = values }
        }
        return all
    }

    static func trickKey(_ trickName: String) -> String { trickName.replacingOccurrences(of: " ", with: "_") }

    /// Hands each active trick its part of a checkpoint's trick state.
    func restoreTricks(_ saved: [String: [Float]]) throws {
        for (name, trick) in task.tricks {
            let prefix = Self.trickKey(name) + "."
            try trick.restore(Dictionary(uniqueKeysWithValues: saved.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) }))
        }
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
        let received = try JSONDecoder().decode(PrimarySnapshot<State>.self, from: Data(bytes))
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
}

/// What rank 0 sends the other processes at start besides the tensors.
struct PrimarySnapshot<State: Codable>: Codable {
    var state: State
    var counters: [String: Int]
    /// Names of the parameters whose momentum / master weights follow, in this order.
    var momentum: [String]
    var masters: [String]
    /// The plug-in tricks' state (small: JSON is fine).
    var trickState: [String: [Float]]
}
