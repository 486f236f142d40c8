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
/// Caches at most `limit` bytes (`TRICKS_BUFFER_POOL_MB`, default 2048), and never lets live +
/// cached memory exceed 1.05x the most that was ever live at once: on ResNet-50 (batch 16,
/// 224x224) exact-size caching alone held 2,598 MB at peak for 2,165 MB live; now 2,317 MB,
/// at the same speed (evicting everything on a miss held 2,171 MB but ran 25% slower).
final class BufferPool: Sendable {
    static let shared = BufferPool(limit: (getenv("TRICKS_BUFFER_POOL_MB").flatMap { Int(String(cString: $0)) } ?? 2048) << 20)

    private struct State {
        var free: [Int: [UInt]] = [:]  // addresses: raw pointers are not Sendable
        var cachedBytes = 0
        /// Bytes handed out and not yet given back, and the most there ever were.
        var live = 0, peakLive = 0
    }
    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
        let size = BufferPool.rounded(byteCount)
        let reused = state.withLock { state -> UInt? in
            state.live += size
            state.peakLive = max(state.peakLive, state.live)
            guard let address = state.free[size]?.popLast() else { return nil }
            if state.free[size]!.isEmpty { state.free[size] = nil }  // only sizes with buffers stay
            state.cachedBytes -= size
            return address
        }
        if let reused { return UnsafeMutableRawPointer(bitPattern: reused)! }
        // A size the pool does not hold: free cached buffers (largest first) while the memory
        // held would exceed the most the program has needed at once by more than `slack`, so
        // that memory does not grow by every size that was used once, yet the sizes of the
        // next step mostly stay cached.
        let evicted = state.withLock { state -> [(UInt, Int)] in
            var out: [(UInt, Int)] = []
            let bound = Int(Double(state.peakLive) * BufferPool.slack)
            while state.live + state.cachedBytes > bound, state.cachedBytes > 0, let largest = state.free.keys.max() {
                let address = state.free[largest]!.removeLast()
                if state.free[largest]!.isEmpty { state.free[largest] = nil }
                state.cachedBytes -= largest
                out.append((address, largest))
            }
            return out
        }
        for (address, size) in evicted { release(UnsafeMutableRawPointer(bitPattern: address)!, size: size) }
        return allocate(size)
    }

    /// Buffers of 1 MiB and more are mapped directly, so that freeing one gives its pages back
    /// to the system (glibc keeps large freed blocks in its heap once its dynamic mmap
    /// threshold has risen); smaller ones come from malloc, 64-byte aligned.
    private static let mapThreshold = 1 << 20
    /// How much more than the largest live total the pool may hold.
    private static let slack = 1.05

    private func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        if size >= BufferPool.mapThreshold {
            let pages = (size + Int(getpagesize()) - 1) / Int(getpagesize()) * Int(getpagesize())
            guard let raw = mmap(nil, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
                fatalError("out of memory mapping \(size) bytes")
            }
            return raw
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, size) == 0, let raw else { fatalError("out of memory allocating \(size) bytes") }
        return raw
    }

    func give(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        let size = BufferPool.rounded(byteCount)
        let kept = state.withLock { state -> Bool in
            state.live -= size
            guard state.cachedBytes + size <= limit else { return false }
            state.free[size, default: []].append(UInt(bitPattern: pointer))
            state.cachedBytes += size
            return true
        }
        if !kept { release(pointer, size: size) }
    }

    private func release(_ pointer: UnsafeMutableRawPointer, size: Int) {
        if size >= BufferPool.mapThreshold {
            let pages = (size + Int(getpagesize()) - 1) / Int(getpagesize()) * Int(getpagesize())
            munmap(pointer, pages)
        } else {
            free(pointer)
        }
    }

    private static func rounded(_ byteCount: Int) -> Int { max(64, (byteCount + 63) & ~63) }
}
