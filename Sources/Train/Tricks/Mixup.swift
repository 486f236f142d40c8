import Foundation
import Tensors

/// Mixup (section 5.4): each batch is mixed with a shuffled copy of itself,
/// x = lambda x_i + (1 - lambda) x_j and y = lambda y_i + (1 - lambda) y_j, lambda ~ Beta(alpha, alpha).
/// Targets are mixed after smoothing.
public struct Mixup {
    public var alpha: Double

    public init(alpha: Double) { self.alpha = alpha }

    /// Mixes `images` [N, C, H, W] and `targets` [N * K] with lambda and a permutation drawn from `rng`.
    public func callAsFunction(images: Tensor, targets: [Float], rng: inout SeededGenerator) throws -> (Tensor, [Float], lambda: Double) {
        let lambda = sampleBeta(alpha: alpha, beta: alpha, using: &rng)
        let n = images.shape[0]
        var permutation = Array(0..<n)
        permutation.shuffle(using: &rng)
        let x = try images.scalars
        let perImage = x.count / n, k = targets.count / n
        var mixed = [Float](repeating: 0, count: x.count), mixedTargets = [Float](repeating: 0, count: targets.count)
        let (l, r) = (Float(lambda), Float(1 - lambda))
        for i in 0..<n {
            let j = permutation[i]
            for p in 0..<perImage { mixed[i * perImage + p] = l * x[i * perImage + p] + r * x[j * perImage + p] }
            for c in 0..<k { mixedTargets[i * k + c] = l * targets[i * k + c] + r * targets[j * k + c] }
        }
        return (try Tensor(shape: images.shape, scalars: mixed, device: images.device), mixedTargets, lambda)
    }
}

/// A Beta(a, b) sample as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
public func sampleBeta(alpha a: Double, beta b: Double, using rng: inout SeededGenerator) -> Double {
    let x = sampleGamma(shape: a, using: &rng), y = sampleGamma(shape: b, using: &rng)
    return x + y > 0 ? x / (x + y) : 0.5
}

/// A Gamma(shape, 1) sample by Marsaglia and Tsang's method (2000); for shape < 1 through
/// Gamma(shape + 1) * U^(1 / shape).
public func sampleGamma(shape: Double, using rng: inout SeededGenerator) -> Double {
    if shape < 1 {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng)
        return sampleGamma(shape: shape + 1, using: &rng) * pow(u, 1 / shape)
    }
    let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
    while true {
        var x: Double, v: Double
        repeat {
            x = rng.nextNormal()
            v = 1 + c * x
        } while v <= 0
        v = v * v * v
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng)
        if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
    }
}

/// Mixup as a plug-in: mixes each micro-batch (after smoothing) until `--mixup-off-epoch`.
extension Mixup {
    public static let alphaSetting = Setting<Double>(key: "mixupAlpha", flag: "mixup", default: 0,
                                                     help: "Mixup alpha (the paper: 0.2); 0 turns it off.")
    public static let offEpoch = OptionalSetting<Int>(key: "mixupOffEpoch", flag: "mixup-off-epoch",
                                                      help: "Stop mixup after this many epochs.")

    public static let registration = TrickRegistration(
        name: "mixup", settings: [alphaSetting, offEpoch],
        validate: { c in
            guard c[alphaSetting] >= 0 else { throw TrainError("--mixup", "alpha must be non-negative, got \(c[alphaSetting])") }
        },
        enable: { $0[alphaSetting] = 0.2 },
        make: { c, _ in c[alphaSetting] > 0 ? Hook(alpha: c[alphaSetting], offEpoch: c[offEpoch]) : nil })

    final class Hook: TrainingTrick {
        let alpha: Double, offEpoch: Int?
        init(alpha: Double, offEpoch: Int?) { (self.alpha, self.offEpoch) = (alpha, offEpoch) }

        func batch(images: inout Tensor, targets: inout [Float], step: StepInfo) throws {
            guard step.epoch < (offEpoch ?? Int.max) else { return }
            // One generator per (step, micro-batch): the same mix after a resume.
            var rng = SeededGenerator(seed: step.seed, 0x4D49_5855, UInt64(step.iteration), UInt64(step.micro))
            (images, targets, _) = try Mixup(alpha: alpha)(images: images, targets: targets, rng: &rng)
        }
    }
}
