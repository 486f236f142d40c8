import Foundation

/// Weights anyone can recompute, for fixtures too large to commit: value i of the tensor named
/// `key` is u in [0, 1) from splitmix64 over FNV-1a of the key, scaled by the tensor's role.
/// `scripts/make_torchvision_fixture.py` fills torchvision's models by the same formula (its
/// docstring has the table), so a test compares logits without the 100 MB of weights.
enum DeterministicWeights {
    static func fnv1a64(_ text: String) -> UInt64 {
        text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    static func uniform(_ key: String, count: Int) -> [Double] {
        let seed = fnv1a64(key)
        return (0..<count).map { i in
            var z = seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 40) / Double(1 << 24)
        }
    }

    /// The tensor `key` of a torchvision ResNet's state dict.
    static func values(_ key: String, shape: [Int]) -> [Float] {
        let u = uniform(key, count: shape.reduce(1, *))
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        let scale: (Double) -> Double
        switch leaf {
        case "running_mean": scale = { (2 * $0 - 1) * 0.1 }
        case "running_var": scale = { 0.5 + $0 }
        case "weight" where shape.count == 1: scale = { 0.5 + $0 }
        case _ where shape.count == 1 && key.hasPrefix("fc."): scale = { (2 * $0 - 1) * 0.1 }
        case _ where shape.count == 1: scale = { (2 * $0 - 1) * 0.2 }
        default:
            let bound = (3.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot()
            scale = { (2 * $0 - 1) * bound }
        }
        return u.map { Float(scale($0)) }
    }
}
