import Foundation

/// Wall time spent in named ops, for benchmarks that report where a step's time goes (RoIAlign
/// and NMS in a detector's step). Off unless a benchmark runs inside `OpTimes.collecting`; an op
/// then pays one clock read and a lock per call. Times cover the op's host work and its launch
/// (a GPU's kernels may finish later).
public final class OpTimes: @unchecked Sendable {
    private static let shared = OpTimes()
    private let lock = NSLock()
    private var enabled = false
    private var totals: [String: Double] = [:]

    /// Runs `body` and returns the seconds each named op took within it.
    public static func collecting<T>(_ body: () throws -> T) rethrows -> (T, [String: Double]) {
        shared.lock.withLock { (shared.enabled, shared.totals) = (true, [:]) }
        defer { shared.lock.withLock { shared.enabled = false } }
        let result = try body()
        return (result, shared.lock.withLock { shared.totals })
    }

    /// Times `body` under `name` while collecting; otherwise just runs it.
    public static func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        guard shared.lock.withLock({ shared.enabled }) else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            shared.lock.withLock { shared.totals[name, default: 0] += seconds }
        }
        return try body()
    }
}
