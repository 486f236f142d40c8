import Foundation

/// A labelled image collection. Images are produced on demand (decoded from files, or cut from
/// an in-memory array), so that loader threads can work on different samples at once.
public protocol Dataset: Sendable {
    var count: Int { get }
    /// Class names; labels index into them.
    var classes: [String] { get }
    /// 1 (grey) or 3 (RGB): what `image(at:)` returns.
    var channels: Int { get }
    func label(at index: Int) -> Int
    func image(at index: Int) throws -> Image
    /// Where a sample comes from, for messages.
    func source(of index: Int) -> String
}

extension Dataset {
    /// Samples per class, in class order.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes.count)
        for i in 0..<count { counts[label(at: i)] += 1 }
        return counts
    }

    /// "60000 images, 10 classes (6000 to 6000 per class), 1 channel".
    public var summary: String {
        let counts = classCounts
        return "\(count) images, \(classes.count) classes (\(counts.min() ?? 0) to \(counts.max() ?? 0) per class), "
            + "\(channels) channel\(channels == 1 ? "" : "s")"
    }
}

/// The samples of `base` at `indices`: a quick subset, or a split.
public struct Subset: Dataset {
    public let base: any Dataset
    public let indices: [Int]

    public init(_ base: any Dataset, indices: [Int]) {
        self.base = base
        self.indices = indices
    }

    /// The first `n` samples of each class in a seeded shuffle of `base` (balanced, repeatable).
    public init(_ base: any Dataset, perClass n: Int, seed: UInt64 = 0) {
        var rng = SplitMix(seed: seed)
        var order = Array(0..<base.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var taken = [Int](repeating: 0, count: base.classes.count)
        var chosen: [Int] = []
        for i in order where taken[base.label(at: i)] < n {
            taken[base.label(at: i)] += 1
            chosen.append(i)
        }
        self.init(base, indices: chosen.sorted())
    }

    public var count: Int { indices.count }
    public var classes: [String] { base.classes }
    public var channels: Int { base.channels }
    public func label(at index: Int) -> Int { base.label(at: indices[index]) }
    public func image(at index: Int) throws -> Image { try base.image(at: indices[index]) }
    public func source(of index: Int) -> String { base.source(of: indices[index]) }
}

/// SplitMix64, for shuffles that must not depend on anything but the seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
