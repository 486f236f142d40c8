import Foundation
import NN
import Tensors

// The settings that take one of a few words, as types: a config file or checkpoint stores the
// word (`"schedule": "cosine"`, as before they were types), the command line's parser accepts
// only the words and lists them, and code switches over the cases instead of comparing strings.

/// A setting that is one of a few words.
public protocol SettingChoice: RawRepresentable<String>, CaseIterable, Codable, Sendable {}

extension SettingChoice {
    /// "step, cosine or constant".
    public static var choices: String {
        let words = allCases.map(\.rawValue)
        return words.dropLast().joined(separator: ", ") + (words.count > 1 ? " or " : "") + (words.last ?? "")
    }

    /// An unknown word is an error that lists the words.
    public init(from decoder: any Decoder) throws {
        let word = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: word) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be \(Self.choices), got \"\(word)\""))
        }
        self = value
    }
}

/// The learning-rate schedule after warmup (`--sched`).
public enum ScheduleKind: String, SettingChoice {
    /// Divided by 10 at the milestones (50% and 75% of the run by default): the paper's baseline.
    case step
    /// Half a cosine from the base rate to 0 (section 5.1).
    case cosine
    case constant
}

/// The number format of training (`--precision`): Float32, or 16-bit (bf16 natively where the
/// CPU computes in it, else emulated; fp16 emulated, with loss scaling).
public enum TrainingPrecision: String, SettingChoice {
    case fp32, fp16, bf16

    public var dataType: DataType {
        switch self {
        case .fp32: .float32
        case .fp16: .float16
        case .bf16: .bfloat16
        }
    }

    public init(_ type: DataType) {
        switch type {
        case .float32: self = .fp32
        case .float16: self = .fp16
        case .bfloat16: self = .bf16
        }
    }
}

/// Where a run computes (`--device`): a `Device`, or `auto` (cuda where it loads, else cpu).
public enum DeviceChoice: String, SettingChoice {
    case cpu, cuda, auto, reference

    /// The device this names; `auto` decides here, `cuda` is checked when the settings are validated.
    public var device: Device {
        switch self {
        case .cpu: .cpu
        case .cuda: .cuda
        case .reference: .reference
        case .auto: .auto
        }
    }
}

/// The training augmentation (`--augment`): pad 4, random crop and flip for small images, or the
/// paper's ImageNet pipeline (random resized crop, flip, colour jitter, PCA lighting).
public enum Augmentation: String, SettingChoice {
    case small, imagenet
}

extension Initializer: SettingChoice {}
