import Foundation

/// A value of a trick's setting as `TrainConfig` keeps it.
public enum SettingValue: Equatable, Sendable, Encodable, CustomStringConvertible {
    case number(Double), integer(Int), text(String)

    public var description: String {
        switch self {
        case .number(let x): "\(x)"
        case .integer(let n): "\(n)"
        case .text(let s): s
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let x): try c.encode(x)
        case .integer(let n): try c.encode(n)
        case .text(let s): try c.encode(s)
        }
    }
}

/// The Swift types a setting can have.
public protocol SettingType: Equatable, Sendable, Decodable {
    init?(_ value: SettingValue)
    var settingValue: SettingValue { get }
    /// From a command-line argument.
    init?(argument: String)
}

extension Double: SettingType {
    public init?(_ value: SettingValue) {
        switch value {
        case .number(let x): self = x
        case .integer(let n): self = Double(n)
        case .text: return nil
        }
    }
    public var settingValue: SettingValue { .number(self) }
    public init?(argument: String) { self.init(argument as String) }
}

extension Int: SettingType {
    public init?(_ value: SettingValue) {
        guard case .integer(let n) = value else { return nil }
        self = n
    }
    public var settingValue: SettingValue { .integer(self) }
    public init?(argument: String) { self.init(argument as String) }
}

extension String: SettingType {
    public init?(_ value: SettingValue) {
        guard case .text(let s) = value else { return nil }
        self = s
    }
    public var settingValue: SettingValue { .text(self) }
    public init?(argument: String) { self = argument }
}

/// What the registry, the command line and the config decoder need of any setting.
public protocol AnySetting: Sendable {
    /// The config-file key (camelCase, as the other settings).
    var key: String { get }
    /// The command-line flag without dashes (kebab-case).
    var flag: String { get }
    var help: String { get }
    /// The default, for `--help`; nil when the setting is unset unless given.
    var defaultDescription: String? { get }
    /// The value of a command-line argument, or nil when it does not parse.
    func parse(_ argument: String) -> SettingValue?
    /// Whether `value` is the default (then the config leaves the setting out).
    func isDefault(_ value: SettingValue) -> Bool
    /// The value under this setting's key in a config file, if any.
    func decode<K: CodingKey>(from container: KeyedDecodingContainer<K>, key: K) throws -> SettingValue?
}

/// A setting with a default: reading it from a config that does not hold it gives the default.
/// A setting whose values are of one Swift type: parsing and decoding follow from the type.
public protocol TypedSetting: AnySetting {
    associatedtype Value: SettingType
}

extension TypedSetting {
    public func parse(_ argument: String) -> SettingValue? { Value(argument: argument)?.settingValue }
    public func decode<K: CodingKey>(from container: KeyedDecodingContainer<K>, key: K) throws -> SettingValue? {
        try container.decodeIfPresent(Value.self, forKey: key)?.settingValue
    }
}

public struct Setting<Value: SettingType>: TypedSetting {
    public let key: String, flag: String, help: String
    public let defaultValue: Value

    public init(key: String, flag: String, default defaultValue: Value, help: String) {
        (self.key, self.flag, self.defaultValue, self.help) = (key, flag, defaultValue, help)
    }

    public var defaultDescription: String? { "\(defaultValue)" }
    public func isDefault(_ value: SettingValue) -> Bool { Value(value) == defaultValue }
}

/// A setting that is unset unless given (a teacher checkpoint, an epoch to stop at).
public struct OptionalSetting<Value: SettingType>: TypedSetting {
    public let key: String, flag: String, help: String

    public init(key: String, flag: String, help: String) {
        (self.key, self.flag, self.help) = (key, flag, help)
    }

    public var defaultDescription: String? { nil }
    public func isDefault(_ value: SettingValue) -> Bool { false }
}

extension TrainConfig {
    /// A trick's setting: the value given (flag, config file, recipe) or the default. Setting
    /// the default removes the entry, so that configs that mean the same compare equal.
    public subscript<V>(setting: Setting<V>) -> V {
        get { trickSettings[setting.key].flatMap(V.init) ?? setting.defaultValue }
        set { trickSettings[setting.key] = newValue == setting.defaultValue ? nil : newValue.settingValue }
    }

    public subscript<V>(setting: OptionalSetting<V>) -> V? {
        get { trickSettings[setting.key].flatMap(V.init) }
        set { trickSettings[setting.key] = newValue?.settingValue }
    }
}
