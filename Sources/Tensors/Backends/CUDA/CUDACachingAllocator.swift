import Synchronization

/// Where device memory comes from: the driver (`cuMemAlloc`/`cuMemFree`), or a fake in tests.
package protocol DeviceMemorySource: AnyObject, Sendable {
    func allocate(bytes: Int) throws -> CUDADriver.DevicePointer
    func free(_ pointer: CUDADriver.DevicePointer)
}

extension CUDADriver: DeviceMemorySource {}

/// Device memory for the CUDA backend without a `cuMemAlloc` per tensor (issue 17: a step
/// allocates hundreds of activations and gradients, and `cuMemAlloc`/`cuMemFree` synchronise
/// the device). As PyTorch's caching allocator, simplified: sizes are rounded (to 512 bytes up
/// to 1 MiB, to 2 MiB above), a released block goes to a free list of its rounded size and the
/// next request of that size takes it back; nothing returns to the driver until a request
/// fails, when the cache is emptied and the request tried once more. One stream, so a block
/// released by the host is free for the next kernel in stream order.
package final class CUDACachingAllocator: Sendable {
    package struct Block: Hashable, Sendable {
        package let pointer: CUDADriver.DevicePointer
        package let size: Int
    }

    package struct Statistics: Equatable, Sendable {
        /// Bytes in blocks handed out and not released.
        package var allocated = 0
        /// Bytes held from the driver: allocated plus cached.
        package var reserved = 0
        package var peakAllocated = 0
        /// Calls to the source's allocate, and how many requests the cache served instead.
        package var sourceAllocations = 0
        package var cacheHits = 0
    }

    private struct State {
        var free: [Int: [Block]] = [:]
        var statistics = Statistics()
    }

    private let source: any DeviceMemorySource
    private let state = Mutex(State())

    package init(source: any DeviceMemorySource) { self.source = source }

    package var statistics: Statistics { state.withLock { $0.statistics } }

    /// The size a request of `bytes` is served with.
    package static func rounded(_ bytes: Int) -> Int {
        let small = 512, large = 2 << 20
        let bytes = max(bytes, 1)
        return bytes <= 1 << 20 ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large
    }

    package func allocate(bytes: Int) throws -> Block {
        let size = Self.rounded(bytes)
        if let block = state.withLock({ state -> Block? in
            guard let block = state.free[size]?.popLast() else { return nil }
            state.statistics.cacheHits += 1
            state.statistics.allocated += size
            state.statistics.peakAllocated = max(state.statistics.peakAllocated, state.statistics.allocated)
            return block
        }) {
            return block
        }
        let pointer: CUDADriver.DevicePointer
        do {
            pointer = try source.allocate(bytes: size)
        } catch {
            // Out of memory, perhaps only because of what the cache holds: give it back, retry once.
            emptyCache()
            do {
                pointer = try source.allocate(bytes: size)
            } catch {
                let s = statistics
                throw CUDAError("out of GPU memory allocating \(size) bytes (\(s.allocated) bytes in use by tensors, "
                                + "\(s.reserved) reserved after emptying the cache): \(error)")
            }
        }
        state.withLock { state in
            state.statistics.sourceAllocations += 1
            state.statistics.reserved += size
            state.statistics.allocated += size
            state.statistics.peakAllocated = max(state.statistics.peakAllocated, state.statistics.allocated)
        }
        return Block(pointer: pointer, size: size)
    }

    /// Returns `block` to the cache (not to the driver).
    package func release(_ block: Block) {
        state.withLock { state in
            state.free[block.size, default: []].append(block)
            state.statistics.allocated -= block.size
        }
    }

    /// Gives every cached block back to the driver.
    package func emptyCache() {
        let blocks = state.withLock { state -> [Block] in
            let blocks = state.free.values.flatMap { $0 }
            state.free = [:]
            state.statistics.reserved -= blocks.reduce(0) { $0 + $1.size }
            return blocks
        }
        for block in blocks { source.free(block.pointer) }
    }
}
