import Glibc

/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64), so that runs
/// and tests repeat exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    @usableFromInline var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds from any number of integers, e.g. (seed, epoch, sample index).
    public init(seed: UInt64, _ streams: UInt64...) {
        var s = seed
        for stream in streams { s = SeededGenerator.splitMix(&s) ^ stream &* 0x9E37_79B9_7F4A_7C15 }
        state = (SeededGenerator.splitMix(&s), SeededGenerator.splitMix(&s), SeededGenerator.splitMix(&s), SeededGenerator.splitMix(&s))
    }

    private static func splitMix(_ s: inout UInt64) -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }
}

extension RandomNumberGenerator {
    /// A standard normal sample (Box-Muller). Inlinable so that callers in other modules get a
    /// specialised copy: unspecialised generic random calls cost ~100x more.
    @inlinable
    public mutating func nextNormal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

