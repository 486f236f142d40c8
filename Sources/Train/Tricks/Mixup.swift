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

/// CutMix (Yun et al. 2019), as timm applies it: each image gets a box of its partner's (the
/// same random pairing as mixup) pasted in. lambda ~ Beta(alpha, alpha); the box has sides
/// sqrt(1 - lambda) of the image's and a centre uniform over the image, clipped at the edges;
/// the targets then mix with the share of the image each one covers (lambda = 1 - box area /
/// image area). timm pairs image i with image N-1-i; a random pairing is used here, as for mixup.
public struct CutMix {
    public var alpha: Double

    public init(alpha: Double) { self.alpha = alpha }

    public func callAsFunction(images: Tensor, targets: [Float], rng: inout SeededGenerator) throws -> (Tensor, [Float], lambda: Double) {
        guard images.rank == 4 else { throw TrainError("--cutmix", "needs [N, C, H, W] images, got \(images.shape)") }
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let drawn = sampleBeta(alpha: alpha, beta: alpha, using: &rng)
        var permutation = Array(0..<n)
        permutation.shuffle(using: &rng)
        let ratio = (1 - drawn).squareRoot()
        let (boxH, boxW) = (Int(Double(h) * ratio), Int(Double(w) * ratio))
        let (centreY, centreX) = (Int.random(in: 0..<h, using: &rng), Int.random(in: 0..<w, using: &rng))
        let (top, bottom) = (max(centreY - boxH / 2, 0), min(centreY + boxH / 2, h))
        let (left, right) = (max(centreX - boxW / 2, 0), min(centreX + boxW / 2, w))
        let lambda = 1 - Double((bottom - top) * (right - left)) / Double(h * w)
        let x = try images.scalars
        var mixed = x, mixedTargets = [Float](repeating: 0, count: targets.count)
        let k = targets.count / n
        for i in 0..<n {
            let j = permutation[i]
            for channel in 0..<c {
                for row in top..<bottom {
                    for column in left..<right {
                        let offset = ((channel * h) + row) * w + column
                        mixed[i * c * h * w + offset] = x[j * c * h * w + offset]
                    }
                }
            }
            for t in 0..<k { mixedTargets[i * k + t] = Float(lambda) * targets[i * k + t] + Float(1 - lambda) * targets[j * k + t] }
        }
        return (try Tensor(shape: images.shape, scalars: mixed, device: images.device), mixedTargets, lambda)
    }
}

/// Mixup and CutMix as one plug-in, as timm's `Mixup` class: each micro-batch (after smoothing)
/// is mixed with probability `--mixup-prob`, by CutMix with probability `--mixup-switch-prob`
/// when both are on, until `--mixup-off-epoch`.
extension Mixup {
    public static let alphaSetting = Setting<Double>(key: "mixupAlpha", flag: "mixup", default: 0,
                                                     help: "Mixup alpha (the paper: 0.2); 0 turns it off.")
    public static let cutmixAlpha = Setting<Double>(key: "cutmixAlpha", flag: "cutmix", default: 0,
                                                    help: "CutMix alpha (timm: 1.0); 0 turns it off.")
    public static let probability = Setting<Double>(key: "mixupProb", flag: "mixup-prob", default: 1,
                                                    help: "Probability that a batch is mixed (mixup or CutMix).")
    public static let switchProbability = Setting<Double>(key: "mixupSwitchProb", flag: "mixup-switch-prob", default: 0.5,
                                                          help: "With both mixup and CutMix on: probability of CutMix for a batch.")
    public static let offEpoch = OptionalSetting<Int>(key: "mixupOffEpoch", flag: "mixup-off-epoch",
                                                      help: "Stop mixup and CutMix after this many epochs (default: never; GluonCV: the last 20 epochs unmixed).")

    public static let registration = TrickRegistration(
        name: "mixup", settings: [alphaSetting, cutmixAlpha, probability, switchProbability, offEpoch], paysInLongTraining: true,
        validate: { c in
            guard c[alphaSetting] >= 0 else { throw TrainError("--mixup", "alpha must be non-negative, got \(c[alphaSetting])") }
            guard c[cutmixAlpha] >= 0 else { throw TrainError("--cutmix", "alpha must be non-negative, got \(c[cutmixAlpha])") }
            for (setting, flag) in [(probability, "--mixup-prob"), (switchProbability, "--mixup-switch-prob")] {
                guard (0...1).contains(c[setting]) else { throw TrainError(flag, "must be in [0, 1], got \(c[setting])") }
            }
        },
        enable: { $0[alphaSetting] = 0.2 },
        make: { c, _ in
            guard c[alphaSetting] > 0 || c[cutmixAlpha] > 0 else { return nil }
            return Hook(mixup: c[alphaSetting], cutmix: c[cutmixAlpha], probability: c[probability],
                        switchProbability: c[switchProbability], offEpoch: c[offEpoch])
        })

    final class Hook: TrainingTrick {
        let mixup: Double, cutmix: Double, probability: Double, switchProbability: Double, offEpoch: Int?
        init(mixup: Double, cutmix: Double, probability: Double, switchProbability: Double, offEpoch: Int?) {
            (self.mixup, self.cutmix, self.probability, self.switchProbability, self.offEpoch) = (mixup, cutmix, probability, switchProbability, offEpoch)
        }

        func batch(images: inout Tensor, targets: inout [Float], step: StepInfo) throws {
            guard step.epoch < (offEpoch ?? Int.max) else { return }
            // One generator per (step, micro-batch): the same mix after a resume. Draws that a
            // setting makes moot are skipped, so that plain mixup draws as it always did.
            var rng = SeededGenerator(seed: step.seed, 0x4D49_5855, UInt64(step.iteration), UInt64(step.micro))
            if probability < 1 && Double.random(in: 0..<1, using: &rng) >= probability { return }
            let useCutMix = cutmix > 0 && (mixup == 0 || Double.random(in: 0..<1, using: &rng) < switchProbability)
            if useCutMix {
                (images, targets, _) = try CutMix(alpha: cutmix)(images: images, targets: targets, rng: &rng)
            } else {
                (images, targets, _) = try Mixup(alpha: mixup)(images: images, targets: targets, rng: &rng)
            }
        }
    }
}
