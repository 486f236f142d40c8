/// Dynamic loss scaling for 16-bit gradients (section 3.2): the loss is multiplied by `scale`
/// before backward so that small gradients survive rounding; a step whose gradients hold an
/// inf or NaN is skipped and the scale halved; after `growthInterval` good steps in a row it
/// doubles. PyTorch's GradScaler defaults: 2^16, 2000.
public struct DynamicLossScaler: Codable, Sendable, Equatable {
    public var scale: Double
    public var growthInterval: Int
    public var goodSteps = 0
    public var skippedSteps = 0

    public init(scale: Double = 65536, growthInterval: Int = 2000) {
        (self.scale, self.growthInterval) = (scale, growthInterval)
    }

    /// Records a step's outcome; returns whether the optimiser should apply it.
    public mutating func update(gradientsFinite: Bool) -> Bool {
        guard gradientsFinite else {
            scale /= 2
            goodSteps = 0
            skippedSteps += 1
            return false
        }
        goodSteps += 1
        if goodSteps == growthInterval {
            scale *= 2
            goodSteps = 0
        }
        return true
    }
}
