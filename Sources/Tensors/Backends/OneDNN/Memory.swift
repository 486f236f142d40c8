import CDNNL

/// A oneDNN memory object over a buffer owned by someone else (a tensor's storage).
/// Made per execution: wrapping a pointer costs about a microsecond.
package final class Memory {
    package let handle: dnnl_memory_t
    package let descriptor: MemoryDescriptor

    package init(_ descriptor: MemoryDescriptor, pointer: UnsafeMutableRawPointer?, op: String) throws {
        var memory: dnnl_memory_t?
        var md = descriptor.raw
        try check(dnnl_memory_create(&memory, &md, Context.shared.engine.handle, pointer), op: op, "memory \(descriptor)")
        handle = memory!
        self.descriptor = descriptor
    }

    deinit { dnnl_memory_destroy(handle) }
}
