import CDNNL

/// A failed oneDNN call, or an argument rejected before one, naming the op and the shapes.
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

/// Turns a oneDNN status into a thrown error. `context` is built only on failure.
@inline(__always)
public func check(_ status: dnnl_status_t, op: String, _ context: @autoclosure () -> String) throws {
    guard status != dnnl_success else { return }
    let name = dnnl_status2str(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
    throw OpError(op: op, "oneDNN returned \(name) (\(context()))")
}
