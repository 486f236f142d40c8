import Synchronization

/// What identifies a primitive: the op with its integer settings and the layouts involved.
public struct PrimitiveKey: Hashable, Sendable {
    public var op: String
    public var settings: [Int]
    public var descriptors: [MemoryDescriptor]

    public init(op: String, settings: [Int] = [], descriptors: [MemoryDescriptor] = []) {
        self.op = op
        self.settings = settings
        self.descriptors = descriptors
    }
}

/// Primitives created once per key and reused: creating one costs 0.2-0.7 ms (code generation),
/// running a small one costs less.
public final class PrimitiveCache: Sendable {
    private let entries = Mutex<[PrimitiveKey: Primitive]>([:])

    public init() {}

    public func primitive(for key: PrimitiveKey, make: () throws -> Primitive) throws -> Primitive {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let made = try make()
        entries.withLock { $0[key] = made }
        return made
    }

    public var count: Int { entries.withLock { $0.count } }

    public func removeAll() { entries.withLock { $0.removeAll() } }
}
