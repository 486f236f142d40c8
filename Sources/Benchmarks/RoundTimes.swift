import Tensors

/// Seconds of `rounds` timed calls of a body after `warmUp` untimed ones, sorted: what every
/// benchmark here reports (the median, and the spread or the 90th percentile).
public struct RoundTimes: Sendable {
    public let sorted: [Double]

    public init(rounds: Int, warmUp: Int, _ body: () throws -> Void) rethrows {
        for _ in 0..<warmUp { try body() }
        var times: [Double] = []
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            try body()
            times.append((ContinuousClock.now - start).seconds)
        }
        sorted = times.sorted()
    }

    public var median: Double { sorted[sorted.count / 2] }
    /// The smallest time at least 90% of the rounds took no longer than.
    public var p90: Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.9).rounded(.up)) - 1)] }
    public var slowest: Double { sorted.last! }
    public var fastest: Double { sorted.first! }
}
