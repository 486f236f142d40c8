import Data
import Foundation
import Models
import NN
import Optim

/// What `eval` and `predict` need to rebuild and feed a model, stored in the weights file.
public struct ModelInfo: Codable, Sendable, Equatable {
    public var model: String
    public var classes: [String]
    public var inputChannels: Int
    public var mean: [Float]
    public var std: [Float]
    /// "small" or "imagenet": which evaluation transform to use.
    public var augment: String
    /// The side of the model's input: the crop size, or the small training images' size.
    public var inputSize: Int?
}

extension ModelInfo {
    /// The transform the model was validated with (`tricks eval` and `predict` reuse it).
    public var evaluationTransform: Compose {
        Train.evaluationTransform(augment: augment, inputSize: inputSize, normalize: Normalize(mean: mean, std: std))
    }
}

/// Validation: for the imagenet pipeline, shorter side to size x 256/224 and a centre crop;
/// for small images, a centre crop to `inputSize` if one is given; then normalisation.
public func evaluationTransform(augment: String, inputSize: Int?, normalize: Normalize) -> Compose {
    if augment == "imagenet", let size = inputSize {
        return Pipelines.imagenetEval(resize: size * 256 / 224, size: size, normalize: normalize)
    }
    return Compose((inputSize.map { [CenterCrop($0)] } ?? []) + [normalize])
}

/// One epoch's results, as logged.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    public var top1: Double
    public var top5: Double
    public var lr: Double
    public var seconds: Double
    public var imagesPerSecond: Double
}

/// Where training stands: enough to continue exactly.
public struct TrainingState: Codable, Sendable, Equatable {
    /// The epoch in progress (or next), 0-based, and the next batch within it.
    public var epoch: Int
    public var batch: Int
    public var iteration: Int
    public var bestTop1: Double
    public var history: [EpochRecord]
    public var config: TrainConfig
    /// The dynamic loss scale (low precision only).
    public var lossScaler: DynamicLossScaler?
}

/// A checkpoint is two safetensors files written atomically:
/// - `NAME.safetensors`: the model's state dict under PyTorch's keys (loads into PyTorch as it
///   is), with `ModelInfo` in its metadata;
/// - `NAME.state.safetensors`: SGD momentum buffers (`momentum.<key>`), FP32 master weights in
///   low precision (`master.<key>`), the plug-in tricks' state (`trick.<name>.<key>`) and
///   `TrainingState`.
/// Both carry the iteration, so a pair torn by a crash between the two renames is detected.
public enum Checkpoint {
    public static func statePath(_ weights: String) -> String {
        (weights.hasSuffix(".safetensors") ? String(weights.dropLast(".safetensors".count)) : weights) + ".state.safetensors"
    }

    public static func save(_ model: Module, info: ModelInfo, state: TrainingState, optimizer: SGD,
                            tricks: [String: [Float]] = [:], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let iteration = "\(state.iteration)"
        let momentum = optimizer.buffers.sorted { $0.key < $1.key }.map { name, values in
            ("momentum." + name, SafeTensors.Entry(floats: values, shape: [values.count]))
        } + optimizer.masters.sorted { $0.key < $1.key }.map { name, values in
            ("master." + name, SafeTensors.Entry(floats: values, shape: [values.count]))
        } + tricks.sorted { $0.key < $1.key }.map { name, values in
            ("trick." + name, SafeTensors.Entry(floats: values, shape: [values.count]))
        }
        try SafeTensors.write(momentum, metadata: ["tricks.state": String(decoding: try encoder.encode(state), as: UTF8.self),
                                                   "tricks.iteration": iteration], to: statePath(path))
        try model.save(to: path, metadata: ["tricks.model_info": String(decoding: try encoder.encode(info), as: UTF8.self),
                                            "tricks.iteration": iteration])
    }

    /// The model described by a weights file, built and loaded, in eval mode.
    public static func loadModel(_ path: String) throws -> (Module, ModelInfo) {
        let (entries, metadata) = try SafeTensors.read(path)
        guard let json = metadata["tricks.model_info"], let info = try? JSONDecoder().decode(ModelInfo.self, from: Data(json.utf8)) else {
            throw TrainError(path, "has no BagOfTricks model description (was it written by `tricks train`?)")
        }
        let model = try ModelZoo.make(info.model, classes: info.classes.count, inputChannels: info.inputChannels)
        try model.loadStateDict(entries, source: path)
        model.eval()
        return (model, info)
    }

    /// The data a checkpoint was trained on (from the training state beside it), if it has one.
    public static func recordedData(_ path: String) -> DataSource? {
        guard let metadata = try? SafeTensors.read(statePath(path)).metadata, let json = metadata["tricks.state"],
              let state = try? JSONDecoder().decode(TrainingState.self, from: Data(json.utf8)) else { return nil }
        return state.config.data
    }

    /// Training state, momentum buffers, master weights and the tricks' state, checked against
    /// the weights file beside them.
    public static func loadState(_ path: String) throws -> (TrainingState, [String: [Float]], [String: [Float]], [String: [Float]]) {
        let weightsIteration = try SafeTensors.read(path).metadata["tricks.iteration"]
        let (entries, metadata) = try SafeTensors.read(statePath(path))
        guard let json = metadata["tricks.state"], let state = try? JSONDecoder().decode(TrainingState.self, from: Data(json.utf8)) else {
            throw TrainError(statePath(path), "has no training state")
        }
        guard metadata["tricks.iteration"] == weightsIteration else {
            throw TrainError(path, "weights (iteration \(weightsIteration ?? "?")) and training state (iteration \(metadata["tricks.iteration"] ?? "?")) do not belong together")
        }
        func group(_ prefix: String) throws -> [String: [Float]] {
            var values: [String: [Float]] = [:]
            for (key, entry) in entries where key.hasPrefix(prefix) { values[String(key.dropFirst(prefix.count))] = try entry.floats() }
            return values
        }
        return (state, try group("momentum."), try group("master."), try group("trick."))
    }
}
