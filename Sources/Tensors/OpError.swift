/// A failed op: an argument rejected, or a backend call that failed, naming the op and the shapes.
public struct OpError: Error, CustomStringConvertible, Equatable {
    /// The operation that failed, e.g. `conv2d` or `reorder`.
    public let op: String
    /// What went wrong, with shapes and oneDNN's status name where there is one.
    public let message: String

    public init(op: String, _ message: String) {
        self.op = op
        self.message = message
    }

    public var description: String { "\(op): \(message)" }
}
