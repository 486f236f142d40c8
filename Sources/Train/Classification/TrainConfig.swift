import Tensors
import Data
import Foundation
import NN
import Optim
import Models

/// Every setting of a training run. Flags, a JSON config file and these defaults resolve to
/// one value, printed at start and saved beside the checkpoints as `config.json`.
public struct TrainConfig: RunSettings {
    public var model = "cifar_resnet20"
    /// What plain ResNet names mean in this file: "torchvision" (`resnet50` is ResNet-B). Files
    /// without it were written when `resnet50` was the original ResNet and are read that way
    /// (`ModelZoo.nameBeforeTorchvisionNaming`); a `--config` file a person wrote uses today's names.
    public var resnetNames = ModelZoo.resnetNames
    public var data = DataSource()
    /// Small (pad 4 + random crop + flip) or imagenet (the paper's pipeline); nil picks small for
    /// small-image models (`cifar_*`, `lenet5`) and imagenet otherwise.
    public var augment: Augmentation?
    /// Crop size for the imagenet pipeline (224), or the small pipeline's crop (nil: image size).
    public var inputSize: Int?
    /// Normalisation statistics in [0, 255]; nil computes them from up to 2000 training images.
    public var mean: [Float]?
    public var std: [Float]?
    public var batchSize = 128
    public var epochs = 5
    /// The learning rate, one of the two: absolute (`--lr`, "lr" in JSON), or per 256 images and
    /// scaled by the global batch (`--lr-per-256`, "lrPer256": the paper's linear scaling, 3.1).
    /// Set through `learningRate`, which keeps exactly one of them.
    public private(set) var lr: Double? = TrainConfig.defaultLR
    public private(set) var lrPer256: Double?
    public var schedule = ScheduleKind.step
    /// Epochs (fractions allowed) at which the step schedule divides the LR by 10; nil: 50% and 75%.
    public var milestones: [Double]?
    public var warmupEpochs = 0.0
    public var momentum = 0.9
    public var nesterov = true
    public var weightDecay = 1e-4
    /// Xavier (the paper) or Kaiming.
    public var initializer = Initializer.xavierUniform
    public var seed: UInt64 = 0
    public var threads: Int?
    /// Where the model trains: `cpu` (oneDNN), `cuda`, `auto`, or `reference` (plain Swift loops,
    /// slow: for checking).
    public var device = DeviceChoice.cpu
    public var workers = 2
    public var dropLast = true
    /// Use only this many training / validation images per class (quick runs and tests).
    public var trainPerClass: Int?
    public var valPerClass: Int?
    // The tricks (sections 3 and 5), each off by default.
    public var zeroGamma = false
    public var noBiasDecay = false
    /// Micro-batches per optimiser step (the batch is split k ways, gradients summed).
    public var accumulation = 1
    public var precision = TrainingPrecision.fp32
    /// The plug-in tricks' settings (label smoothing, mixup, distillation: `TrickRegistry.registered`)
    /// by config key; read and written through `config[Setting]`. Written under "trickSettings"
    /// in JSON; a config file may also give them at the top level, as before the plug-in seam.
    public var trickSettings: [String: SettingValue] = [:]
    /// Transfer learning: start from these weights (a `tricks train` checkpoint), with a new
    /// classifier head for this data's classes.
    public var finetuneFrom: String?
    /// Train only the new head for this many epochs first.
    public var freezeEpochs = 0
    /// The recipe the settings started from, for the record.
    public var recipe: Recipe?
    /// The ablation row these settings are, for the record ("3: + LR warmup").
    public var ablationRow: String?
    public var output = "runs/run"
    /// Progress line every this many steps when standard output is not a terminal.
    public var logEvery = 50
    public var strict = false
    // Data-parallel training (mpirun): `batchSize` is per process.
    /// Processes training together; set from mpirun's job, recorded so a resume can check it.
    public var worldSize = 1
    /// BatchNorm statistics over the global batch (PyTorch's SyncBatchNorm) instead of per process.
    public var syncBN = false
    /// Gradients are averaged across processes in buckets of about this many MB (PyTorch DDP: 25).
    public var bucketMB = 25.0

    public init() {}

    /// Decodes any subset of the settings; the rest keep their defaults (so that config files
    /// and checkpoints written before a setting existed still load).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainConfig()
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? defaults.model
        model = ModelZoo.name(model, recordedWith: try c.decodeIfPresent(String.self, forKey: .resnetNames))
        data = try c.decodeIfPresent(DataSource.self, forKey: .data) ?? defaults.data
        augment = try c.decodeIfPresent(Augmentation.self, forKey: .augment)
        inputSize = try c.decodeIfPresent(Int.self, forKey: .inputSize)
        mean = try c.decodeIfPresent([Float].self, forKey: .mean)
        std = try c.decodeIfPresent([Float].self, forKey: .std)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs
        schedule = try c.decodeIfPresent(ScheduleKind.self, forKey: .schedule) ?? defaults.schedule
        milestones = try c.decodeIfPresent([Double].self, forKey: .milestones)
        warmupEpochs = try c.decodeIfPresent(Double.self, forKey: .warmupEpochs) ?? defaults.warmupEpochs
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? defaults.momentum
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? defaults.nesterov
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? defaults.weightDecay
        initializer = try c.decodeIfPresent(Initializer.self, forKey: .initializer) ?? defaults.initializer
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        device = try c.decodeIfPresent(DeviceChoice.self, forKey: .device) ?? defaults.device
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? defaults.workers
        dropLast = try c.decodeIfPresent(Bool.self, forKey: .dropLast) ?? defaults.dropLast
        trainPerClass = try c.decodeIfPresent(Int.self, forKey: .trainPerClass)
        valPerClass = try c.decodeIfPresent(Int.self, forKey: .valPerClass)
        // Files from before the learning rate was one value hold both keys; lrPer256 won then too.
        if let perImages = try c.decodeIfPresent(Double.self, forKey: .lrPer256) {
            learningRate = .per256(perImages)
        } else {
            learningRate = .absolute(try c.decodeIfPresent(Double.self, forKey: .lr) ?? TrainConfig.defaultLR)
        }
        zeroGamma = try c.decodeIfPresent(Bool.self, forKey: .zeroGamma) ?? defaults.zeroGamma
        noBiasDecay = try c.decodeIfPresent(Bool.self, forKey: .noBiasDecay) ?? defaults.noBiasDecay
        accumulation = try c.decodeIfPresent(Int.self, forKey: .accumulation) ?? defaults.accumulation
        precision = try c.decodeIfPresent(TrainingPrecision.self, forKey: .precision) ?? defaults.precision
        trickSettings = try TrainConfig.decodeTrickSettings(decoder)
        finetuneFrom = try c.decodeIfPresent(String.self, forKey: .finetuneFrom)
        freezeEpochs = try c.decodeIfPresent(Int.self, forKey: .freezeEpochs) ?? defaults.freezeEpochs
        // Ablation rows were recorded as the recipe ("ablation row 3: + LR warmup") before they had a key.
        let recipeWord = try c.decodeIfPresent(String.self, forKey: .recipe)
        recipe = recipeWord.flatMap(Recipe.init(rawValue:))
        ablationRow = try c.decodeIfPresent(String.self, forKey: .ablationRow)
            ?? recipeWord.flatMap { $0.hasPrefix("ablation row ") ? String($0.dropFirst("ablation row ".count)) : nil }
        if let recipeWord, recipe == nil, ablationRow == nil {
            throw DecodingError.dataCorruptedError(forKey: .recipe, in: c, debugDescription: "must be \(Recipe.choices), got \"\(recipeWord)\"")
        }
        output = try c.decodeIfPresent(String.self, forKey: .output) ?? defaults.output
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? defaults.logEvery
        strict = try c.decodeIfPresent(Bool.self, forKey: .strict) ?? defaults.strict
        worldSize = try c.decodeIfPresent(Int.self, forKey: .worldSize) ?? defaults.worldSize
        syncBN = try c.decodeIfPresent(Bool.self, forKey: .syncBN) ?? defaults.syncBN
        bucketMB = try c.decodeIfPresent(Double.self, forKey: .bucketMB) ?? defaults.bucketMB
    }

    /// The plug-in settings under "trickSettings" and, as config files wrote them before the plug-in
    /// seam, at the top level (a top-level key wins); each decoded with its declared type.
    static func decodeTrickSettings(_ decoder: any Decoder) throws -> [String: SettingValue] {
        let top = try decoder.container(keyedBy: AnyKey.self)
        var values = try top.decodeIfPresent(AnyKeyedSettings.self, forKey: AnyKey("trickSettings"))?.values ?? [:]
        for setting in TrickRegistry.settings {
            if let value = try setting.decode(from: top, key: AnyKey(setting.key)) { values[setting.key] = value }
        }
        return values
    }

    /// Reads a JSON config file: any subset of the fields above, keys in camelCase as written
    /// (`batchSize`) or in the flags' kebab-case (`batch-size`); an unknown key or a value of the
    /// wrong type is an error naming it.
    /// `base` gives every setting the file leaves out (a recipe's, or the defaults).
    /// `writtenByARun`: the file is a run's `config.json`, whose model names are read as the
    /// version that wrote it meant them (`resnetNames`).
    public static func load(_ path: String, over base: TrainConfig = TrainConfig(), writtenByARun: Bool = false) throws -> TrainConfig {
        let given = try settings(in: path)
        if !writtenByARun && given["lr"] != nil && given["lrPer256"] != nil {
            throw TrainError(path, "gives both \"lr\" (absolute) and \"lrPer256\" (scaled by the batch): keep one")
        }
        let trickKeys = Set(TrickRegistry.settings.map(\.key))
        if let unknown = given.keys.sorted().first(where: { CodingKeys(stringValue: $0) == nil && !trickKeys.contains($0) }) {
            throw TrainError(path, "unknown setting \"\(unknown)\" (the keys are the settings of `tricks train --help`, "
                             + "as flags (batch-size) or in camelCase (batchSize))")
        }
        if let nested = given["trickSettings"] as? [String: Any], let unknown = nested.keys.sorted().first(where: { !trickKeys.contains($0) }) {
            throw TrainError(path, "unknown trick setting \"\(unknown)\" (see `tricks train --help`)")
        }
        var merged = try settingsDictionary(base)
        if given["lr"] != nil { merged["lrPer256"] = nil }
        if given["lrPer256"] != nil { merged["lr"] = nil }
        merged["resnetNames"] = writtenByARun ? nil : ModelZoo.resnetNames
        for (key, value) in given {
            if key == "trickSettings", let nested = value as? [String: Any] {
                merged[key] = ((merged[key] as? [String: Any]) ?? [:]).merging(nested) { $1 }
            } else {
                merged[key] = value
            }
        }
        do {
            return try JSONDecoder().decode(TrainConfig.self, from: try JSONSerialization.data(withJSONObject: merged))
        } catch let error as DecodingError {
            throw TrainError(path, error.settingMessage)
        }
    }

    /// The keys a config file gives, as `TrainConfig` names them.
    public static func keys(in path: String) throws -> Set<String> { Set(try settings(in: path).keys) }

    /// A config file's object, its keys in camelCase: the flags' kebab-case (`batch-size`) and
    /// the flags whose names differ from the setting (`sched`, `wd`, `init`, `lr-steps`) map to
    /// the setting's key.
    static func settings(in path: String) throws -> [String: Any] {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw TrainError("--config", "cannot read \(path)") }
        guard let written = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] else {
            throw TrainError(path, "is not a JSON object")
        }
        var given = camelCaseKeys(written) as! [String: Any]
        for (flag, key) in ["sched": "schedule", "wd": "weightDecay", "init": "initializer", "lrSteps": "milestones"] {
            guard let value = given.removeValue(forKey: flag) else { continue }
            guard given[key] == nil else { throw TrainError(path, "gives both \"\(flag)\" and \"\(key)\", the same setting: keep one") }
            given[key] = value
        }
        // The data flags (--data, --format, --val-data, --val-split, --channels) at the top level,
        // and "data" as a bare path, go into the data object; inside it, the flags' names too.
        var data: [String: Any] = (given["data"] as? [String: Any]) ?? [:]
        if let path = given["data"] as? String { data = ["path": path] }
        for (key, value) in data {
            guard let setting = ["valData": "validationPath", "valSplit": "validationSplit"][key] else { continue }
            guard data[setting] == nil else { throw TrainError(path, "gives both \"data.\(key)\" and \"data.\(setting)\", the same setting: keep one") }
            data[setting] = data.removeValue(forKey: key) ?? value
        }
        for (flag, key) in ["format": "format", "valData": "validationPath", "valSplit": "validationSplit", "channels": "channels"] {
            guard let value = given.removeValue(forKey: flag) else { continue }
            guard data[key] == nil else { throw TrainError(path, "gives \"\(flag)\" both on its own and inside \"data\": keep one") }
            data[key] = value
        }
        if given["data"] != nil || !data.isEmpty { given["data"] = data }
        return given
    }

    /// One line for the start of a run; `config.json` in the output folder has every setting.
    public var summary: String {
        var parts = ["\(model) on \(data.path)", counted(epochs, "epoch"), "batch \(batchSize)" + (worldSize > 1 ? " x \(worldSize) processes" : ""),
                     String(format: "lr %.4g", effectiveLR) + " (\(learningRateRule))", "\(schedule) schedule"]
        if warmupEpochs > 0 { parts.append("warmup \(warmupEpochs) epochs") }
        if zeroGamma { parts.append("zero-gamma") }
        if noBiasDecay { parts.append("no bias decay") }
        if precision != .fp32 { parts.append(precision.rawValue) }
        if device == .auto { parts.append("on auto (\(computeDevice))") } else if device != .cpu { parts.append("on \(device.rawValue)") }
        parts += TrickRegistry.settings.compactMap { s in trickSettings[s.key].map { "--\(s.flag) \($0.description)" } }
        return parts.joined(separator: ", ") + ", seed \(seed)"
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Checks values a user can get wrong, naming the flag.
    public func validate() throws {
        guard batchSize >= 1 else { throw TrainError("--batch-size", "must be at least 1, got \(batchSize)") }
        guard epochs >= 1 else { throw TrainError("--epochs", "must be at least 1, got \(epochs)") }
        switch learningRate {
        case .absolute(let value): guard value > 0, value.isFinite else { throw TrainError("--lr", "must be positive, got \(value)") }
        case .per256(let value): guard value > 0, value.isFinite else { throw TrainError("--lr-per-256", "must be positive, got \(value)") }
        }
        guard warmupEpochs >= 0, warmupEpochs < Double(epochs) else { throw TrainError("--warmup-epochs", "must be in [0, epochs), got \(warmupEpochs)") }
        if let threads, threads < 1 { throw TrainError("--threads", "must be at least 1, got \(threads)") }
        do { _ = try Device.named(device.rawValue) } catch let error as OpError { throw TrainError("--device", error.message) }
        guard accumulation >= 1, batchSize % accumulation == 0 else {
            throw TrainError("--accumulation", "must be at least 1 and divide --batch-size \(batchSize), got \(accumulation)")
        }
        for trick in TrickRegistry.registered { try trick.validate(self) }
        guard bucketMB > 0 else { throw TrainError("--bucket-mb", "must be positive, got \(bucketMB)") }
        if let milestones, let outside = milestones.first(where: { !($0 > 0) }) {
            throw TrainError("--lr-steps", "epoch \(outside) is not after the start: each step must fall after epoch 0")
        }
        guard freezeEpochs >= 0, freezeEpochs <= epochs else {
            throw TrainError("--freeze-epochs", "must be between 0 and --epochs (\(epochs)), got \(freezeEpochs)")
        }
        guard (mean == nil) == (std == nil) else {
            throw TrainError(mean == nil ? "--std" : "--mean", "needs \(mean == nil ? "--mean" : "--std") too (one value per channel each)")
        }
    }

    /// Settings that are legal but probably not what was meant, one line each, for the log.
    public var warnings: [String] {
        var lines: [String] = []
        if let milestones, let past = milestones.first(where: { $0 >= Double(epochs) }) {
            lines.append("--lr-steps: epoch \(past) is not before the end of this run's \(epochs) epoch(s), so the LR does not step there "
                         + "(as meant if the run will be resumed with more --epochs)")
        }
        return lines
    }

    /// The learning rate as one value: what the user gave (`--lr`, `--lr-per-256`, or a config
    /// file's key) wins over a recipe's, and giving both flags is an error.
    public var learningRate: LearningRate {
        get { lrPer256.map(LearningRate.per256) ?? .absolute(lr ?? TrainConfig.defaultLR) }
        set {
            switch newValue {
            case .absolute(let value): (lr, lrPer256) = (value, nil)
            case .per256(let value): (lr, lrPer256) = (nil, value)
            }
        }
    }

    public static let defaultLR = 0.05

    /// The learning rate the run starts from (after warmup): absolute, or linearly scaled.
    public var effectiveLR: Double {
        switch learningRate {
        case .absolute(let value): value
        case .per256(let value): value * Double(globalBatchSize) / 256
        }
    }

    /// Which rule made `effectiveLR`, for the run's first lines.
    public var learningRateRule: String {
        switch learningRate {
        case .absolute: recipe == nil && ablationRow == nil ? "absolute" : "absolute, given over the recipe's linear scaling"
        case .per256(let value):
            String(format: "linear scaling: %.4g per 256 images x batch %d / 256", value, globalBatchSize)
        }
    }

    /// Images per optimiser step over all processes.
    public var globalBatchSize: Int { batchSize * worldSize }

    /// The device of `device`; `auto` is cuda where CUDA loads and finds a GPU, else cpu.
    public var computeDevice: Device { device.device }

    public var storagePrecision: DataType { precision.dataType }

    /// The step or cosine schedule over `iterationsPerEpoch` x `epochs`, after any warmup.
    public func learningRateSchedule(iterationsPerEpoch: Int) -> any LearningRateSchedule {
        let warmup = Int((warmupEpochs * Double(iterationsPerEpoch)).rounded())
        let total = iterationsPerEpoch * epochs - warmup
        let main: any LearningRateSchedule
        switch schedule {
        case .cosine: main = CosineSchedule(base: effectiveLR, total: total)
        case .constant: main = ConstantSchedule(effectiveLR)
        case .step:
            let steps = milestones?.map { Int(($0 * Double(iterationsPerEpoch)).rounded()) - warmup }
                ?? [total / 2, total * 3 / 4]
            main = StepSchedule(base: effectiveLR, milestones: steps)
        }
        return warmup > 0 ? WarmupSchedule(iterations: warmup, then: main) : main
    }
}

/// The learning rate a run starts from (after warmup).
public enum LearningRate: Sendable, Equatable, CustomStringConvertible {
    /// As given.
    case absolute(Double)
    /// Per 256 images, scaled by the global batch (the paper's linear scaling, section 3.1).
    case per256(Double)

    public var description: String {
        switch self {
        case .absolute(let value): "\(value)"
        case .per256(let value): "\(value) per 256 images"
        }
    }
}

/// A training problem, naming the flag, file or step it concerns.
public struct TrainError: Error, CustomStringConvertible {
    public let subject: String
    public let message: String
    public init(_ subject: String, _ message: String) { (self.subject, self.message) = (subject, message) }
    public var description: String { "\(subject): \(message)" }
}

/// A JSON key known only at run time (the plug-in settings).
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The "trickSettings" object of a config, decoded setting by setting with each one's type.
/// Keys of tricks this build does not register are kept as they are (a trick offered to the
/// trainer directly, or a checkpoint from a build with more tricks); `TrainConfig.load`
/// refuses them in a config file, where they are typos.
struct AnyKeyedSettings: Decodable {
    var values: [String: SettingValue] = [:]

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for key in c.allKeys {
            if let setting = TrickRegistry.settings.first(where: { $0.key == key.stringValue }) {
                if let value = try setting.decode(from: c, key: key) { values[key.stringValue] = value }
            } else if let number = try? c.decode(Double.self, forKey: key) {
                values[key.stringValue] = .number(number)
            } else if let text = try? c.decode(String.self, forKey: key) {
                values[key.stringValue] = .text(text)
            }
        }
    }
}
