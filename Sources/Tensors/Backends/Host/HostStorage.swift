import Glibc
import Synchronization

/// Host memory for the CPU backends: a 64-byte aligned buffer (oneDNN's kernels like
/// cache-line alignment). Shared by a tensor and its views (`detached()`, reshapes); returned
/// to `BufferPool` with the last of them.
package final class HostStorage: Storage {
    package let pointer: UnsafeMutableRawPointer
    /// What the pool handed out: at least `byteCount` (a cached buffer may be a little larger).
    private let capacity: Int

    package init(byteCount: Int, zeroed: Bool) {
        (pointer, capacity) = BufferPool.shared.take(byteCount)
        if zeroed { memset(pointer, 0, byteCount) }
        super.init(byteCount: byteCount)
    }

    package var floats: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }

    deinit { BufferPool.shared.give(pointer, capacity: capacity) }
}

/// Freed buffers kept by size for the next step, which asks for the same sizes again:
/// without it each large activation would be a fresh mmap whose pages fault in on first touch.
/// A request is served by a cached buffer of the same size or up to 1.5x larger. Caches at
/// most `limit` bytes (`TRICKS_BUFFER_POOL_MB`, default 2048), and never lets live + cached
/// memory exceed the most that was ever live at once by more than `margin`
/// (`TRICKS_BUFFER_POOL_MARGIN`, default 0.25): on ResNet-50 (batch 16, 224x224) exact-size
/// caching without that bound held 2,598 MB for 2,165 MB live. Measured in
/// docs/performance.md.
final class BufferPool: Sendable {
    static let shared = BufferPool(limit: (getenv("TRICKS_BUFFER_POOL_MB").flatMap { Int(String(cString: $0)) } ?? 2048) << 20)

    private struct State {
        var free: [Int: [UInt]] = [:]  // addresses: raw pointers are not Sendable
        var cachedBytes = 0
        /// Bytes handed out and not yet given back, and the most there ever were.
        var live = 0, peakLive = 0
        /// Live + cached may exceed the most ever live by this fraction.
        var margin = BufferPool.marginFromEnvironment ?? 0.25
    }
    private let state = Mutex(State())
    private let limit: Int
    static let marginFromEnvironment = getenv("TRICKS_BUFFER_POOL_MARGIN").flatMap { Double(String(cString: $0)) }

    init(limit: Int) { self.limit = limit }

    /// See `HostMemoryPool.setMargin`.
    func setMargin(_ fraction: Double) {
        guard BufferPool.marginFromEnvironment == nil else { return }
        state.withLock { $0.margin = max(0, fraction) }
    }

    /// A buffer of at least `byteCount` bytes and its capacity, to be given back with it.
    func take(_ byteCount: Int) -> (UnsafeMutableRawPointer, Int) {
        let size = BufferPool.rounded(byteCount)
        let reused = state.withLock { state -> (UInt, Int)? in
            // The same size, else the smallest cached one up to 1.5x as large.
            let fit = state.free[size] != nil ? size
                : state.free.keys.filter { $0 > size && $0 <= size + size / 2 }.min()
            guard let fit, let address = state.free[fit]?.popLast() else { return nil }
            if state.free[fit]!.isEmpty { state.free[fit] = nil }  // only sizes with buffers stay
            state.cachedBytes -= fit
            state.live += fit
            state.peakLive = max(state.peakLive, state.live)
            return (address, fit)
        }
        if let (address, capacity) = reused { return (UnsafeMutableRawPointer(bitPattern: address)!, capacity) }
        // A size the pool does not hold: free cached buffers (largest first) while the memory
        // held would exceed the most the program has ever had live at once by `margin`, so
        // that memory does not grow by every size that was used once. Buffers freed here
        // fault in again when next needed (cheap with huge pages). Measured: with no margin,
        // ResNet-20 spent 6% of its time clearing fresh pages and trained 10% slower; with a
        // tenth, 671 img/s against 745-754 with a quarter (AMD EPYC). On an Intel Xeon with
        // AMX a tenth trained ResNet-20, ResNet-50 and MobileNet v1 as fast as a quarter at
        // 8-11% less memory (docs/performance.md); the quarter stays the default until both
        // machines agree. Detection sets 0 (`HostMemoryPool.setMargin`).
        let capacity = size >= BufferPool.mapThreshold ? BufferPool.mappedLength(size) : size
        let evicted = state.withLock { state -> [(UInt, Int)] in
            state.live += capacity
            state.peakLive = max(state.peakLive, state.live)
            var out: [(UInt, Int)] = []
            while Double(state.live + state.cachedBytes) > Double(state.peakLive) * (1 + state.margin), state.cachedBytes > 0, let largest = state.free.keys.max() {
                let address = state.free[largest]!.removeLast()
                if state.free[largest]!.isEmpty { state.free[largest] = nil }
                state.cachedBytes -= largest
                out.append((address, largest))
            }
            return out
        }
        for (address, size) in evicted { release(UnsafeMutableRawPointer(bitPattern: address)!, size: size) }
        return (allocate(size), capacity)
    }

    /// Buffers of 1 MiB and more are mapped directly, so that freeing one gives its pages back
    /// to the system (glibc keeps large freed blocks in its heap once its dynamic mmap
    /// threshold has risen); smaller ones come from malloc, 64-byte aligned.
    private static let mapThreshold = 1 << 20

    /// A new buffer of at least `size` bytes (`mappedLength(size)` when mapped).
    private func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        if size >= BufferPool.mapThreshold { return BufferPool.map(size) }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, size) == 0, let raw else { fatalError("out of memory allocating \(size) bytes") }
        return raw
    }

    /// Transparent huge pages: for buffers of 8 MiB and more, 2 MiB-aligned mappings with
    /// MADV_HUGEPAGE fault in 512x fewer times (and miss the TLB less) than 4 KiB pages (a
    /// MobileNet step faulted in ~200 MB of fresh buffers, 50,000 faults). Smaller buffers
    /// would waste too much in rounding up to 2 MiB.
    private static let hugePage = 2 << 20, hugeThreshold = 8 << 20

    /// What `map(size)` maps: whole huge pages for large buffers, whole pages for the others.
    private static func mappedLength(_ size: Int) -> Int {
        let unit = size >= hugeThreshold ? hugePage : Int(getpagesize())
        return (size + unit - 1) / unit * unit
    }

    private static func map(_ size: Int) -> UnsafeMutableRawPointer {
        let length = mappedLength(size), huge = size >= hugeThreshold
        // For huge pages, map one more, then trim the unaligned head and the tail.
        let extra = huge ? hugePage : 0
        guard let raw = mmap(nil, length + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            fatalError("out of memory mapping \(size) bytes")
        }
        guard huge else { return raw }
        let address = UInt(bitPattern: raw), aligned = (address + UInt(hugePage) - 1) / UInt(hugePage) * UInt(hugePage)
        let head = Int(aligned - address), tail = extra - head
        if head > 0 { munmap(raw, head) }
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(length)), tail) }
        let pointer = UnsafeMutableRawPointer(bitPattern: aligned)!
        madvise(pointer, length, MADV_HUGEPAGE)
        return pointer
    }

    func give(_ pointer: UnsafeMutableRawPointer, capacity size: Int) {
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
            munmap(pointer, size)  // `size` is the capacity: the mapped length
        } else {
            free(pointer)
        }
    }

    private static func rounded(_ byteCount: Int) -> Int { max(64, (byteCount + 63) & ~63) }
}

/// The CPU backends' cache of freed buffers (`BufferPool`), for work that knows its shapes.
public enum HostMemoryPool {
    /// How far cached + live memory may exceed the most ever live at once (default 0.25). Work
    /// whose tensor shapes change every step (detection: images of different sizes, a varying
    /// number of proposals) rarely finds a cached buffer of the size it asks for, so a margin
    /// only holds memory: 0 keeps nothing beyond the peak. `TRICKS_BUFFER_POOL_MARGIN`, when
    /// set, wins over this.
    public static func setMargin(_ fraction: Double) { BufferPool.shared.setMargin(fraction) }
}
