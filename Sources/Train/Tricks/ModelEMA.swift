import Models
import NN
import Tensors

/// An exponential moving average of a model's weights, as timm's `ModelEmaV2`: after every
/// optimiser step, each parameter and buffer of the copy becomes
/// `decay * ema + (1 - decay) * model`. The copy is what is evaluated each epoch and saved as
/// `best`, and its values are kept in the checkpoint so that a resumed run continues it exactly.
public final class ModelEMA {
    public let decay: Float
    /// The averaged copy (same architecture and device as the model).
    public let module: Module

    /// Starts the average at `model`'s current weights; `copy` is a second instance of the same
    /// architecture on the same device.
    public init(of model: Module, copy: Module, decay: Double) throws {
        self.decay = Float(decay)
        module = copy
        for ((_, target), (_, source)) in zip(Self.state(of: copy), Self.state(of: model)) { try target.assign(source) }
    }

    /// One step of the average towards `model`'s weights.
    public func update(from model: Module) throws {
        let d = decay
        for ((_, average), (_, current)) in zip(Self.state(of: module), Self.state(of: model)) {
            guard average.isInHostMemory else {
                // In device memory: the same arithmetic by the device's kernels.
                try GradMode.withoutGradient { try average.assign(add(scale(average, by: d), scale(current, by: 1 - d))) }
                continue
            }
            let values = try current.scalars  // Float32, whatever the storage type
            try average.withUnsafeMutableFloats { a in
                for i in 0..<a.count { a[i] = d * a[i] + (1 - d) * values[i] }
            }
        }
    }

    /// Parameters then buffers, under their state-dict keys.
    static func state(of model: Module) -> [(String, Tensor)] { model.namedParameters() + model.namedBuffers() }

    /// The averaged values by state-dict key, for the checkpoint.
    public func values() throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try Self.state(of: module).map { ($0.0, try $0.1.scalars) })
    }

    /// Restores the average from a checkpoint's values; every key must be there.
    public func load(_ values: [String: [Float]]) throws {
        for (key, tensor) in Self.state(of: module) {
            guard let saved = values[key] else { throw TrainError("--resume", "the checkpoint has no EMA value for \(key)") }
            try tensor.assign(saved)
        }
    }
}

/// EMA of weights as a plug-in (`--ema-decay 0.9998`, timm's default for ImageNet).
extension ModelEMA {
    public static let decaySetting = Setting<Double>(key: "emaDecay", flag: "ema-decay", default: 0,
                                                     help: "EMA of the weights with this decay, evaluated and saved as best (timm: 0.9998, for ~100k steps; the average remembers about 1/(1-decay) steps, so short runs need less). 0 turns it off.")

    public static let registration = TrickRegistration(
        name: "EMA", settings: [decaySetting], recipe: nil, inAblation: false,
        validate: { c in
            guard c[decaySetting] >= 0, c[decaySetting] < 1 else { throw TrainError("--ema-decay", "must be in [0, 1), got \(c[decaySetting])") }
        },
        enable: { $0[decaySetting] = 0.9998 },
        make: { c, context in
            guard c[decaySetting] > 0 else { return nil }
            let copy = try Device.with(context.device) {
                try ModelZoo.make(context.modelName, classes: context.classes, inputChannels: context.inputChannels)
            }
            return Hook(try ModelEMA(of: context.model, copy: copy, decay: c[decaySetting]))
        })

    final class Hook: TrainingTrick {
        let ema: ModelEMA
        init(_ ema: ModelEMA) { self.ema = ema }

        func afterStep(model: Module, step: StepInfo) throws { try ema.update(from: model) }
        func evaluationModel(for model: Module) -> Module? { ema.module }
        func checkpointState() throws -> [String: [Float]] { try ema.values() }
        func restore(_ state: [String: [Float]]) throws { try ema.load(state) }
    }
}
