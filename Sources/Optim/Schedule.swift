import Foundation

/// A learning rate as a function of the global iteration (0-based: the rate of the first step
/// is `rate(0)`), like the schedules of Swift for TensorFlow and mlx. Values compose: a warmup
/// wraps the schedule that follows it.
public protocol LearningRateSchedule: Sendable {
    func rate(_ iteration: Int) -> Double
}

public struct ConstantSchedule: LearningRateSchedule {
    public var base: Double
    public init(_ base: Double) { self.base = base }
    public func rate(_ iteration: Int) -> Double { base }
}

/// The paper's baseline: `base` divided by 10 (`gamma`) at each milestone iteration.
public struct StepSchedule: LearningRateSchedule {
    public var base: Double, milestones: [Int], gamma: Double
    public init(base: Double, milestones: [Int], gamma: Double = 0.1) { (self.base, self.milestones, self.gamma) = (base, milestones, gamma) }
    public func rate(_ iteration: Int) -> Double {
        base * pow(gamma, Double(milestones.filter { iteration >= $0 }.count))
    }
}

/// Cosine decay over `total` iterations: eta_t = 0.5 (1 + cos(pi t / T)) eta (section 5.1).
public struct CosineSchedule: LearningRateSchedule {
    public var base: Double, total: Int
    public init(base: Double, total: Int) { (self.base, self.total) = (base, total) }
    public func rate(_ iteration: Int) -> Double {
        0.5 * (1 + cos(Double.pi * Double(min(iteration, total)) / Double(max(total, 1)))) * base
    }
}

/// Linear warmup (section 3.1): over the first m iterations the rate rises from 0 as
/// i * eta / m (i = 1...m, i.e. iteration + 1), then `after` takes over, seeing iterations
/// counted from the end of the warmup. eta is `after`'s first rate.
public struct WarmupSchedule: LearningRateSchedule {
    public var iterations: Int
    public var after: any LearningRateSchedule
    public init(iterations: Int, then after: any LearningRateSchedule) { (self.iterations, self.after) = (iterations, after) }
    public func rate(_ iteration: Int) -> Double {
        iteration < iterations ? Double(iteration + 1) * after.rate(0) / Double(iterations) : after.rate(iteration - iterations)
    }
}

/// base x (1 - t / total)^power: the "poly" schedule of FCN and DeepLab (power 0.9).
public struct PolySchedule: LearningRateSchedule {
    public var base: Double, total: Int, power: Double
    public init(base: Double, total: Int, power: Double = 0.9) { (self.base, self.total, self.power) = (base, total, power) }
    public func rate(_ iteration: Int) -> Double {
        base * pow(1 - Double(min(iteration, total)) / Double(max(total, 1)), power)
    }
}
