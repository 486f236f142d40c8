import Foundation

/// `batch-size` -> `batchSize`, in every object of a config file (keys as the flags spell them).
func camelCaseKeys(_ value: Any) -> Any {
    if let object = value as? [String: Any] {
        return Dictionary(uniqueKeysWithValues: object.map { key, value in
            let parts = key.split(separator: "-")
            let camel = parts.first.map(String.init).map { first in first + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() } ?? key
            return (camel, camelCaseKeys(value))
        })
    }
    if let array = value as? [Any] { return array.map(camelCaseKeys) }
    return value
}

extension DecodingError {
    /// What a person reads: the setting and what it should hold, not Swift's debug description.
    var settingMessage: String {
        func key(_ context: Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "the file" : "setting \"\(path)\""
        }
        func kind(_ type: Any.Type) -> String {
            switch type {
            case is Int.Type, is UInt64.Type: "a whole number"
            case is Double.Type, is Float.Type: "a number"
            case is String.Type: "a string"
            case is Bool.Type: "true or false"
            case is [Double].Type, is [Float].Type: "a list of numbers, e.g. [0.5, 0.5, 0.5]"
            default: "a \(type)"
            }
        }
        switch self {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let found = context.debugDescription.range(of: "but found ").map { "; found " + context.debugDescription[$0.upperBound...] } ?? ""
            return "\(key(context)) must be \(kind(type))\(found.hasSuffix(".") ? String(found.dropLast()) : found)"
        case .keyNotFound(let missing, let context):
            return "\(key(context)) lacks \"\(missing.stringValue)\""
        case .dataCorrupted(let context):
            return "\(key(context)): \(context.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }
}
