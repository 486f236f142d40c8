import Foundation

/// Runs `body` over 0..<n in chunks of 2^16 elements on all cores, for elementwise loops that
/// run in Swift over whole activations (16-bit rounding) or parameters (the optimiser). Where
/// oneDNN has the operation, use it instead: these threads (GCD's) compete with oneDNN's
/// OpenMP threads, which spin for a while after each kernel; a residual add written this way
/// made ResNet-20 training 15% slower.
package func forEachChunk(_ n: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let chunk = 1 << 16, chunks = (n + chunk - 1) / chunk
    guard chunks > 1 else { return body(0..<n) }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in body((c * chunk)..<min(n, (c + 1) * chunk)) }
}

/// A pointer that parallel loops may share: each iteration reads it, or writes elements no
/// other iteration writes.
package struct SendablePointer<T>: @unchecked Sendable {
    package let p: UnsafeMutablePointer<T>
    package init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
