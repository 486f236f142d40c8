import Glibc
import Synchronization

/// A 64-byte aligned buffer (oneDNN's kernels like cache-line alignment). Shared by a tensor
/// and its views (`detached()`, reshapes); returned to `BufferPool` with the last of them.
final class Storage {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int, zeroed: Bool) {
        self.byteCount = byteCount
        pointer = BufferPool.shared.take(byteCount)
        if zeroed { memset(pointer, 0, byteCount) }
    }

    var floats: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }

    deinit { BufferPool.shared.give(pointer, byteCount: byteCount) }
}

/// Freed buffers kept by exact size for the next step, which asks for the same sizes again:
/// without it each large activation would be a fresh mmap whose pages fault in on first touch.
/// Holds at most `limit` bytes (`TRICKS_BUFFER_POOL_MB`, default 2048); beyond that, buffers
/// are freed.
final class BufferPool: Sendable {
    static let shared = BufferPool(limit: (getenv("TRICKS_BUFFER_POOL_MB").flatMap { Int(String(cString: $0)) } ?? 2048) << 20)

    private struct State {
        var free: [Int: [UInt]] = [:]  // addresses: raw pointers are not Sendable
        var cachedBytes = 0
    }
    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
        let size = BufferPool.rounded(byteCount)
        let reused = state.withLock { state -> UInt? in
            guard let address = state.free[size]?.popLast() else { return nil }
            state.cachedBytes -= size
            return address
        }
        if let reused { return UnsafeMutableRawPointer(bitPattern: reused)! }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, size) == 0, let raw else { fatalError("out of memory allocating \(byteCount) bytes") }
        return raw
    }

    func give(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        let size = BufferPool.rounded(byteCount)
        let kept = state.withLock { state -> Bool in
            guard state.cachedBytes + size <= limit else { return false }
            state.free[size, default: []].append(UInt(bitPattern: pointer))
            state.cachedBytes += size
            return true
        }
        if !kept { free(pointer) }
    }

    private static func rounded(_ byteCount: Int) -> Int { max(64, (byteCount + 63) & ~63) }
}
