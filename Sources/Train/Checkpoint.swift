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
    /// What plain ResNet names mean here (`TrainConfig.resnetNames`); nil in files written when
    /// `resnet50` was the original ResNet, whose names `loadModel` translates.
    public var resnetNames: String? = ModelZoo.resnetNames
    /// A detector's transform, anchors and thresholds, and whether its backbone's BatchNorm is
    /// frozen: what rebuilding it takes besides the name (nil for other models).
    public var detection: DetectorDescription?
}

/// What a detection checkpoint needs to rebuild its detector (`ModelInfo.detection`).
public struct DetectorDescription: Codable, Sendable, Equatable {
    public var settings: FasterRCNNSettings
    public var frozenBatchNorm: Bool
    public init(settings: FasterRCNNSettings, frozenBatchNorm: Bool) { (self.settings, self.frozenBatchNorm) = (settings, frozenBatchNorm) }
}

extension ModelInfo {
    /// For a state dict from elsewhere: channels and class count read from the first and last
    /// weights; ImageNet's mean and std (torchvision's and timm's), or 0.5 for grey models;
    /// the evaluation transform and input size of the model's family.
    init(foreign entries: [String: SafeTensors.Entry], model name: String, classes names: [String]?, source: String) throws {
        let probe = try ModelZoo.make(name, classes: 10)
        let parameters = probe.namedParameters()
        guard let (stemKey, _) = parameters.first, let stem = entries[stemKey], stem.shape.count == 4 else {
            throw TrainError(source, "has no \(parameters.first?.0 ?? "first weight") entry of rank 4: not a \(name) state dict")
        }
        // The classifier: the last fully connected layer, or FCN's last 1x1 convolution.
        let segmentation = name.hasPrefix("fcn_")
        let headKey = parameters.last { $0.1.rank == (segmentation ? 4 : 2) }?.0 ?? ""
        guard let head = entries[headKey], head.shape.count == (segmentation ? 4 : 2) else { throw TrainError(source, "has no \(headKey) entry: not a \(name) state dict") }
        let channels = stem.shape[1]
        let small = name.hasPrefix("cifar_") || name == "lenet5"
        self.init(model: name, classes: names ?? (0..<head.shape[0]).map(String.init), inputChannels: channels,
                  mean: channels == 3 ? [123.675, 116.28, 103.53] : [Float](repeating: 127.5, count: channels),
                  std: channels == 3 ? [58.395, 57.12, 57.375] : [Float](repeating: 127.5, count: channels),
                  augment: segmentation ? "segmentation" : small ? "small" : "imagenet", inputSize: name == "lenet5" ? 28 : small ? 32 : name == "inception_v3" ? 299 : 224)
        if let names, names.count != head.shape[0] {
            throw TrainError("--classes", "\(names.count) names given, but \(source) has \(head.shape[0]) outputs")
        }
    }

    /// The description in a weights file's metadata, with its model named as today (files from
    /// before `resnetNames` named the original ResNet `resnet50`); nil if it has none.
    public init?(metadata: [String: String]) {
        guard let json = metadata["tricks.model_info"], var described = try? JSONDecoder().decode(ModelInfo.self, from: Data(json.utf8)) else {
            return nil
        }
        described.model = ModelZoo.name(described.model, recordedWith: described.resnetNames)
        described.resnetNames = ModelZoo.resnetNames
        self = described
    }

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

/// One epoch of a classification run, as logged.
public typealias EpochRecord = EpochResult<ClassificationMetrics>

/// Where a classification run stands: enough to continue exactly.
public typealias TrainingState = RunState<TrainConfig, ClassificationMetrics>

/// The optimiser's and the plug-in tricks' part of a checkpoint, by parameter (trick) name.
public struct OptimizerState {
    public var momentum: [String: [Float]]
    /// FP32 master weights (low precision only).
    public var masters: [String: [Float]]
    public var tricks: [String: [Float]]
}

/// A checkpoint is two safetensors files written atomically:
/// - `NAME.safetensors`: the model's state dict under PyTorch's keys (loads into PyTorch as it
///   is), with `ModelInfo` in its metadata;
/// - `NAME.state.safetensors`: SGD momentum buffers (`momentum.<key>`), FP32 master weights in
///   low precision (`master.<key>`), the plug-in tricks' state (`trick.<name>.<key>`) and
///   the run's state (`RunState`) under the task's key (`tricks.state` for classification).
/// Both carry the iteration, so a pair torn by a crash between the two renames is detected.
public enum Checkpoint {
    public static func statePath(_ weights: String) -> String {
        (weights.hasSuffix(".safetensors") ? String(weights.dropLast(".safetensors".count)) : weights) + ".state.safetensors"
    }

    public static func save(_ model: Module, info: ModelInfo, state: some Encodable, stateKey: String, iteration: Int, optimizer: SGD,
                            tricks: [String: [Float]] = [:], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let iteration = "\(iteration)"
        let momentum = try optimizer.buffers.sorted { $0.key < $1.key }.map { name, values in
            ("momentum." + name, SafeTensors.Entry(floats: values, shape: [values.count]))
        } + optimizer.masters.sorted { $0.key < $1.key }.map { name, values in
            ("master." + name, SafeTensors.Entry(floats: values, shape: [values.count]))
        } + tricks.sorted { $0.key < $1.key }.map { name, values in
            ("trick." + name, SafeTensors.Entry(floats: values, shape: [values.count]))
        }
        try SafeTensors.write(momentum, metadata: [stateKey: String(decoding: try encoder.encode(state), as: UTF8.self),
                                                   "tricks.iteration": iteration], to: statePath(path))
        try model.save(to: path, metadata: ["tricks.model_info": String(decoding: try encoder.encode(info), as: UTF8.self),
                                            "tricks.iteration": iteration])
    }

    /// The model described by a weights file, built and loaded, in eval mode. A file without
    /// our description (a torchvision or timm state dict saved with safetensors) needs `model`:
    /// the architecture; `classes` names the outputs (default: their indices).
    /// A segmentation checkpoint is refused (naming the commands that take it) unless
    /// `segmentation` says the caller handles one (export, benchmarks).
    public static func loadModel(_ path: String, model name: String? = nil, classes: [String]? = nil,
                                 segmentation: Bool = false) throws -> (Module, ModelInfo) {
        let (entries, metadata) = try SafeTensors.read(path)
        var info: ModelInfo
        if let described = ModelInfo(metadata: metadata) {
            if described.detection != nil {
                throw TrainError(path, "is a detection checkpoint (\(described.model), written by `tricks detect train`): "
                                 + "score it with `tricks detect eval`, run it with `tricks detect predict`")
            }
            if described.augment == "segmentation" && !segmentation {
                throw TrainError(path, "is a segmentation checkpoint (\(described.model), written by `tricks segment train`): "
                                 + "score it with `tricks segment eval`, run it with `tricks segment predict`")
            }
            if let name, name != described.model {
                throw TrainError("--model", "\(path) holds \(described.model), not \(name); drop --model for files written by `tricks train`")
            }
            info = described
        } else if let name {
            info = try ModelInfo(foreign: entries, model: name, classes: classes, source: path)
        } else {
            throw TrainError(path, "has no BagOfTricks model description: for a torchvision or timm state dict give --model NAME "
                             + "(and --classes FILE for the class names)")
        }
        if let classes, classes.count != info.classes.count {
            throw TrainError("--classes", "\(classes.count) names given, but \(path) has \(info.classes.count) classes (\(info.classes.prefix(5).joined(separator: ", "))...)")
        }
        // Names given for a file that has its own rename its classes (only the count must agree).
        if let classes { info.classes = classes }
        // With the auxiliary head the file has (FCN's, Inception's): it is part of the state dict.
        let auxiliary = entries.keys.contains { $0.hasPrefix("aux_classifier.") || $0.hasPrefix("AuxLogits.") }
        let model = try ModelZoo.make(info.model, classes: info.classes.count, inputChannels: info.inputChannels, auxiliaryHead: auxiliary)
        try model.loadStateDict(entries, source: path)
        model.eval()
        return (model, info)
    }

    /// The data a checkpoint was trained on (from the training state beside it), if it has one.
    public static func recordedData(_ path: String) -> DataSource? {
        recordedState(path)?.config.data
    }

    /// Where the run stood when it wrote the checkpoint at `path`, from the training state beside it.
    public static func recordedState(_ path: String) -> TrainingState? {
        guard let metadata = try? SafeTensors.read(statePath(path)).metadata, let json = metadata["tricks.state"] else { return nil }
        return try? JSONDecoder().decode(TrainingState.self, from: Data(json.utf8))
    }

    /// A classification run's state, momentum buffers, master weights and the tricks' state,
    /// checked against the weights file beside them.
    public static func loadState(_ path: String) throws -> (TrainingState, [String: [Float]], [String: [Float]], [String: [Float]]) {
        let (state, optimizer) = try loadState(path, as: TrainingState.self, key: classificationStateKey)
        return (state, optimizer.momentum, optimizer.masters, optimizer.tricks)
    }

    /// The run state saved under `key` beside the weights at `path`, with the optimiser's and
    /// the tricks' state, checked against the weights file (both carry the iteration).
    public static func loadState<State: Decodable>(_ path: String, as: State.Type, key: String) throws -> (State, OptimizerState) {
        let weightsIteration = try SafeTensors.read(path).metadata["tricks.iteration"]
        let (entries, metadata) = try SafeTensors.read(statePath(path))
        guard let json = metadata[key], let state = try? JSONDecoder().decode(State.self, from: Data(json.utf8)) else {
            throw TrainError(statePath(path), "has no \(key == classificationStateKey ? "training" : "run") state of this kind (\(key))")
        }
        guard metadata["tricks.iteration"] == weightsIteration else {
            throw TrainError(path, "weights (iteration \(weightsIteration ?? "?")) and training state (iteration \(metadata["tricks.iteration"] ?? "?")) do not belong together")
        }
        func group(_ prefix: String) throws -> [String: [Float]] {
            var values: [String: [Float]] = [:]
            for (key, entry) in entries where key.hasPrefix(prefix) { values[String(key.dropFirst(prefix.count))] = try entry.floats() }
            return values
        }
        return (state, OptimizerState(momentum: try group("momentum."), masters: try group("master."), tricks: try group("trick.")))
    }

    /// The metadata key of a classification run's state.
    public static let classificationStateKey = "tricks.state"
}
