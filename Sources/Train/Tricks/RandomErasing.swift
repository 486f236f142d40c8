import Foundation
import Tensors

/// Random erasing (Zhong et al. 2020), as timm's `RandomErasing(mode="pixel")` behind `--reprob`:
/// each image, with probability `probability`, gets one rectangle of random area (2% to 1/3 of
/// the image) and aspect ratio (0.3 to 3.3, log-uniform) replaced by normal noise, per pixel and
/// channel, in the normalised image. Up to 10 draws to find a rectangle that fits; none may fit.
/// Not one of the paper's tricks.
public struct RandomErasing {
    public var probability: Double

    public init(probability: Double) { self.probability = probability }

    /// `images` [N, C, H, W] with rectangles erased, drawing from `rng`.
    public func callAsFunction(images: Tensor, rng: inout SeededGenerator) throws -> Tensor {
        guard images.rank == 4 else { throw TrainError("--reprob", "needs [N, C, H, W] images, got \(images.shape)") }
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        var x = try images.scalars
        var erased = false
        for i in 0..<n where Double.random(in: 0..<1, using: &rng) < probability {
            for _ in 0..<10 {
                let area = Double.random(in: 0.02..<(1.0 / 3), using: &rng) * Double(h * w)
                let aspect = exp(Double.random(in: log(0.3)..<log(1 / 0.3), using: &rng))
                let (eh, ew) = (Int((area * aspect).squareRoot().rounded()), Int((area / aspect).squareRoot().rounded()))
                guard eh < h, ew < w, eh > 0, ew > 0 else { continue }
                let (top, left) = (Int.random(in: 0...(h - eh), using: &rng), Int.random(in: 0...(w - ew), using: &rng))
                for channel in 0..<c { for y in top..<(top + eh) { for xx in left..<(left + ew) {
                    x[((i * c + channel) * h + y) * w + xx] = Float(rng.nextNormal())
                } } }
                erased = true
                break
            }
        }
        return erased ? try Tensor(shape: images.shape, scalars: x, device: images.device) : images
    }
}

extension RandomErasing {
    public static let probabilitySetting = Setting<Double>(key: "reprob", flag: "reprob", default: 0,
                                                           help: "Random erasing probability per image (timm's --reprob; e.g. 0.25); 0 turns it off.")

    public static let registration = TrickRegistration(
        name: "random erasing", settings: [probabilitySetting], recipe: .strong, inAblation: false,  // 0.25
        validate: { c in
            guard (0...1).contains(c[probabilitySetting]) else { throw TrainError("--reprob", "must be in [0, 1], got \(c[probabilitySetting])") }
        },
        enable: { $0[probabilitySetting] = 0.25 },
        make: { c, _ in c[probabilitySetting] > 0 ? Hook(probability: c[probabilitySetting]) : nil })

    final class Hook: TrainingTrick {
        let erasing: RandomErasing
        init(probability: Double) { erasing = RandomErasing(probability: probability) }

        func batch(images: inout Tensor, targets: inout [Float], step: StepInfo) throws {
            // One generator per (step, micro-batch): the same rectangles after a resume.
            var rng = SeededGenerator(seed: step.seed, 0x5245_5052, UInt64(step.iteration), UInt64(step.micro))
            images = try erasing(images: images, rng: &rng)
        }
    }
}
