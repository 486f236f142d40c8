import Glibc

/// A 64-byte aligned buffer (oneDNN's kernels like cache-line alignment). Shared by a tensor
/// and its views (`detached()`, reshapes), freed with the last of them.
final class Storage {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int, zeroed: Bool) {
        var raw: UnsafeMutableRawPointer?
        let size = max(byteCount, 64)
        guard posix_memalign(&raw, 64, size) == 0, let raw else {
            fatalError("out of memory allocating \(byteCount) bytes")
        }
        if zeroed { memset(raw, 0, size) }
        pointer = raw
        self.byteCount = byteCount
    }

    var floats: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }

    deinit { free(pointer) }
}
