import Data
import Foundation
import Models
import NN
import Optim
import Tensors

/// One epoch of a segmentation run, as `metrics.jsonl` records it (epochs counted from 1).
public struct SegmentationEpoch: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    /// In %.
    public var pixelAccuracy: Double
    public var meanIoU: Double
    public var lr: Double
    public var seconds: Double
    public var imagesPerSecond: Double
}

/// Where a segmentation run stands, saved with each checkpoint: enough to continue it.
public struct SegmentationState: Codable, Sendable, Equatable {
    public var epoch = 0
    public var iteration = 0
    public var bestMeanIoU = -1.0
    public var history: [SegmentationEpoch] = []
    public var config: SegmentationConfig
}

/// FCN training (the paper's section 6): SGD with Nesterov momentum, the poly schedule,
/// per-pixel cross-entropy ignoring label 255 plus `auxWeight` x the auxiliary head's; each
/// epoch ends with pixel accuracy and mIoU on the validation scenes, a checkpoint (`last`, and
/// `best` by mIoU) and a line in `metrics.jsonl`. A run continues from `last` with `resume`.
public final class SegmentationTrainer {
    public let config: SegmentationConfig
    public let model: FCN
    public let info: ModelInfo
    public private(set) var state: SegmentationState
    let optimizer: SGD
    let trainLoader: DataLoader, validationLoader: DataLoader
    let schedule: any LearningRateSchedule
    let precision: PrecisionPath
    public var log: (String) -> Void = { print($0); fflush(nil) }

    public var lastCheckpoint: String { config.output + "/last.safetensors" }
    public var bestCheckpoint: String { config.output + "/best.safetensors" }

    public init(config: SegmentationConfig, resume: Bool = false) throws {
        try config.validate()
        self.config = config
        if let threads = config.threads { try Threads.set(threads) }
        let (train, validation) = try SegmentationTrainer.datasets(config)
        let (mean, std) = try (train as? GarmentScenes).map(SegmentationTrainer.statistics) ?? (Normalize.imagenet.mean, Normalize.imagenet.std)
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
        if let path = config.backbone { try SegmentationTrainer.loadBackbone(path, into: model, name: config.model) }
        self.model = model
        info = ModelInfo(model: config.model, classes: train.classes, inputChannels: train.channels, mean: mean, std: std,
                         augment: "segmentation", inputSize: config.baseSize)
        precision = PrecisionPath.choose(config.precision == "bf16" ? .bfloat16 : .float32, on: .cpu)
        if case .emulated = precision {
            throw TrainError("--precision", "bf16 needs a CPU with AVX-512 BF16 for segmentation (the emulation is classification's only); use fp32")
        }
        // The paper's no-bias-decay is not part of FCN's recipe: decay on every parameter, as torchvision's reference.
        optimizer = try SGD(groups: parameterGroups(model.namedParameters(), weightDecay: config.weightDecay, noBiasDecay: false),
                            momentum: config.momentum, nesterov: true)
        schedule = PolySchedule(base: config.lr, total: trainLoader.batchCount * config.epochs)
        state = SegmentationState(config: config)
        log("data: train \(train.summary) (shorter side \(config.baseSize / 2)-\(config.baseSize * 2), \(config.cropSize)x\(config.cropSize) crops); "
            + "validation \(validation.summary)")
        if let note = precision.note(on: .cpu) { log(note) }
        log(String(format: "%@: %d parameters, output stride %d, lr %.4g (poly 0.9), batch %d, %d steps per epoch", config.model,
                   model.parameterCount, model.backbone.config.outputStride, config.lr, config.batchSize, trainLoader.batchCount))
        if resume { try restore() } else if let path = config.backbone { log("backbone: started from \(path) (every weight but fc)") }
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

    public func run() throws -> SegmentationState {
        let progress = Progress(every: config.logEvery)
        let steps = trainLoader.batchCount
        let ignore = Int(Mask.ignoreIndex)
        while state.epoch < config.epochs {
            model.train()
            let iterator = trainLoader.epoch(state.epoch)
            let start = ContinuousClock.now
            var (lossSum, images) = (0.0, 0)
            var lr = schedule.rate(state.iteration)
            for step in 0..<steps {
                guard let batch = try iterator.next() else { throw TrainError("data", "epoch \(state.epoch + 1) ended early") }
                let (input, labels) = try unpackSegmentationBatch(batch)
                lr = schedule.rate(state.iteration)
                optimizer.zeroGrad()
                let value = try precision.run {
                    let (out, aux) = try model.forwardWithAuxiliary(input)
                    var loss = try crossEntropy(out, labels: labels, ignoreIndex: ignore)
                    if let aux, config.auxWeight > 0 {
                        loss = try loss + scale(crossEntropy(aux, labels: labels, ignoreIndex: ignore), by: Float(config.auxWeight))
                    }
                    try loss.backward()
                    return Double(try loss.item())
                }
                guard value.isFinite else {
                    throw TrainError("step \(state.iteration + 1)", "loss is \(value); stopping. The last good checkpoint is \(lastCheckpoint); try a lower --lr")
                }
                try optimizer.step(lr: lr)
                state.iteration += 1
                lossSum += value
                images += input.shape[0]
                let elapsed = (ContinuousClock.now - start).seconds
                progress.update(epoch: state.epoch + 1, epochs: config.epochs, step: step + 1, steps: steps, loss: lossSum / Double(step + 1),
                                lr: lr, imagesPerSecond: Double(images) / max(elapsed, 1e-9),
                                eta: elapsed / Double(step + 1) * Double(steps - step - 1))
            }
            let seconds = (ContinuousClock.now - start).seconds
            let evaluation = try evaluateSegmentation(model, loader: validationLoader, classes: info.classes.count)
            let record = SegmentationEpoch(epoch: state.epoch + 1, trainLoss: lossSum / Double(steps), valLoss: evaluation.loss,
                                           pixelAccuracy: 100 * evaluation.pixelAccuracy, meanIoU: 100 * evaluation.meanIoU, lr: lr,
                                           seconds: seconds, imagesPerSecond: Double(images) / max(seconds, 1e-9))
            state.history.append(record)
            state.epoch += 1
            let improved = record.meanIoU > state.bestMeanIoU
            if improved { state.bestMeanIoU = record.meanIoU }
            try save(to: lastCheckpoint)
            if improved { try save(to: bestCheckpoint) }
            try appendJSONLine(record, to: config.output + "/metrics.jsonl")
            log(String(format: "epoch %d/%d: train loss %.4f, val loss %.4f, pixel accuracy %.2f%%, mIoU %.2f%%, %.0fs (%.1f img/s)%@",
                       record.epoch, config.epochs, record.trainLoss, record.valLoss, record.pixelAccuracy, record.meanIoU,
                       record.seconds, record.imagesPerSecond, improved ? ", best so far" : ""))
        }
        return state
    }

    /// The model's state dict (torchvision's keys) with `info`, and beside it the momentum
    /// buffers with the run's state, each written atomically.
    func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try FileManager.default.createDirectory(atPath: config.output, withIntermediateDirectories: true)
        try AtomicFile.write(Array((config.json + "\n").utf8), to: config.output + "/config.json")
        let buffers = try optimizer.buffers.sorted { $0.key < $1.key }.map { ("momentum." + $0.key, SafeTensors.Entry(floats: $0.value, shape: [$0.value.count])) }
        try SafeTensors.write(buffers, metadata: ["tricks.segmentation_state": String(decoding: try encoder.encode(state), as: UTF8.self)],
                              to: Checkpoint.statePath(path))
        try model.save(to: path, metadata: ["tricks.model_info": String(decoding: try encoder.encode(info), as: UTF8.self)])
    }

    /// The saved state of the run in `folder` (its settings with model names as today), or nil
    /// where it holds no checkpoint.
    public static func savedRun(in folder: String) throws -> SegmentationState? {
        let last = folder + "/last.safetensors"
        guard FileManager.default.fileExists(atPath: last) else { return nil }
        let metadata = try SafeTensors.read(Checkpoint.statePath(last)).metadata
        guard let json = metadata["tricks.segmentation_state"],
              var saved = try? JSONDecoder().decode(SegmentationState.self, from: Data(json.utf8)) else {
            throw TrainError(Checkpoint.statePath(last), "holds no segmentation run's state")
        }
        saved.config.model = ModelZoo.name(saved.config.model, recordedWith: saved.config.resnetNames)
        saved.config.resnetNames = ModelZoo.resnetNames
        return saved
    }

    func restore() throws {
        guard var saved = try SegmentationTrainer.savedRun(in: config.output) else { throw TrainError("--resume", "no checkpoint at \(lastCheckpoint)") }
        let buffers = try SafeTensors.read(Checkpoint.statePath(lastCheckpoint)).entries
        try config.checkResumable(from: saved.config)
        try model.loadStateDict(SafeTensors.read(lastCheckpoint).entries, source: lastCheckpoint)
        try optimizer.loadBuffers(Dictionary(uniqueKeysWithValues: try buffers.compactMap { key, entry in
            key.hasPrefix("momentum.") ? (String(key.dropFirst("momentum.".count)), try entry.floats()) : nil
        }))
        saved.config = config
        state = saved
        log("resumed from \(lastCheckpoint) after epoch \(state.epoch)")
    }

}
