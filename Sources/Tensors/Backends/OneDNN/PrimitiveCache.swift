import Synchronization

/// What identifies a primitive: the op with its integer settings and the layouts involved.
package struct PrimitiveKey: Hashable, Sendable {
    package var op: String
    package var settings: [Int]
    package var descriptors: [MemoryDescriptor]

    package init(op: String, settings: [Int] = [], descriptors: [MemoryDescriptor] = []) {
        self.op = op
        self.settings = settings
        self.descriptors = descriptors
    }
}

/// Primitives created once per key and reused: creating one costs 0.2-0.7 ms (code generation),
/// running a small one costs less.
package final class PrimitiveCache: Sendable {
    private let entries = Mutex<[PrimitiveKey: Primitive]>([:])

    package init() {}

    package func primitive(for key: PrimitiveKey, make: () throws -> Primitive) throws -> Primitive {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let made = try make()
        entries.withLock { $0[key] = made }
        return made
    }

    package var count: Int { entries.withLock { $0.count } }

    package func removeAll() { entries.withLock { $0.removeAll() } }
}
