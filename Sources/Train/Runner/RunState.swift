import Foundation
import Optim

/// One epoch of a run, as `metrics.jsonl` records it: what every task logs (losses, learning
/// rate, time), and the task's validation metrics (top-1 and top-5, or pixel accuracy and mIoU)
/// beside them in the same JSON object. Epochs count from 1.
@dynamicMemberLookup
public struct EpochResult<Metrics: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    public var lr: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Wall seconds of the validation pass after the epoch's training (`seconds`); nil in
    /// records written before it was kept.
    public var validationSeconds: Double?
    public var metrics: Metrics

    public init(epoch: Int, trainLoss: Double, valLoss: Double, lr: Double, seconds: Double, imagesPerSecond: Double,
                validationSeconds: Double? = nil, metrics: Metrics) {
        (self.epoch, self.trainLoss, self.valLoss, self.lr, self.seconds, self.imagesPerSecond, self.validationSeconds, self.metrics)
            = (epoch, trainLoss, valLoss, lr, seconds, imagesPerSecond, validationSeconds, metrics)
    }

    /// `record.top1` reads the metric.
    public subscript<T>(dynamicMember path: KeyPath<Metrics, T>) -> T { metrics[keyPath: path] }

    enum CodingKeys: String, CodingKey { case epoch, trainLoss, valLoss, lr, seconds, imagesPerSecond, validationSeconds }

    // The metrics' keys sit beside the common ones (one flat object per line, as before).
    public init(from decoder: any Decoder) throws {
        metrics = try Metrics(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        trainLoss = try c.decode(Double.self, forKey: .trainLoss)
        valLoss = try c.decode(Double.self, forKey: .valLoss)
        lr = try c.decode(Double.self, forKey: .lr)
        seconds = try c.decode(Double.self, forKey: .seconds)
        imagesPerSecond = try c.decode(Double.self, forKey: .imagesPerSecond)
        validationSeconds = try c.decodeIfPresent(Double.self, forKey: .validationSeconds)
    }

    public func encode(to encoder: any Encoder) throws {
        try metrics.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(trainLoss, forKey: .trainLoss)
        try c.encode(valLoss, forKey: .valLoss)
        try c.encode(lr, forKey: .lr)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(imagesPerSecond, forKey: .imagesPerSecond)
        try c.encodeIfPresent(validationSeconds, forKey: .validationSeconds)
    }
}

/// Where a run stands, saved with each checkpoint: enough to continue it exactly.
public struct RunState<Settings: RunSettings, Metrics: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// Epochs finished (so the one in progress, 0-based), and the next batch within it.
    public var epoch = 0
    public var batch = 0
    /// Optimiser steps taken.
    public var iteration = 0
    /// The best value of the task's `bestMetric` so far (-1 before the first epoch ends).
    public var best = -1.0
    public var history: [EpochResult<Metrics>] = []
    public var config: Settings
    /// The dynamic loss scale (emulated low precision only).
    public var lossScaler: DynamicLossScaler?

    public init(config: Settings, lossScaler: DynamicLossScaler? = nil) {
        (self.config, self.lossScaler) = (config, lossScaler)
    }

    // "best" was "bestTop1" (classification) or "bestMeanIoU" (segmentation) in checkpoints
    // written before the runner.
    enum CodingKeys: String, CodingKey { case epoch, batch, iteration, best, history, config, lossScaler, bestTop1, bestMeanIoU }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? 0
        iteration = try c.decode(Int.self, forKey: .iteration)
        best = try c.decodeIfPresent(Double.self, forKey: .best) ?? c.decodeIfPresent(Double.self, forKey: .bestTop1)
            ?? c.decodeIfPresent(Double.self, forKey: .bestMeanIoU) ?? -1
        history = try c.decode([EpochResult<Metrics>].self, forKey: .history)
        // Classification checkpoints from before the runner counted the history's epochs from 0.
        if history.first?.epoch == 0 { for i in history.indices { history[i].epoch += 1 } }
        config = try c.decode(Settings.self, forKey: .config)
        lossScaler = try c.decodeIfPresent(DynamicLossScaler.self, forKey: .lossScaler)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(batch, forKey: .batch)
        try c.encode(iteration, forKey: .iteration)
        try c.encode(best, forKey: .best)
        try c.encode(history, forKey: .history)
        try c.encode(config, forKey: .config)
        try c.encodeIfPresent(lossScaler, forKey: .lossScaler)
    }
}
