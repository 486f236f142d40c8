import Foundation

/// Which FPN level MultiScaleRoIAlign pools a box from (torchvision's `LevelMapper`, after Lin et
/// al.'s equation 1): floor(4 + log2(sqrt(area) / 224) + 1e-6), clamped to the levels present;
/// returned counted from the finest level (0 for P2).
public struct RoILevels: Sendable {
    public var finest: Int, coarsest: Int
    public var canonicalSize: Float = 224, canonicalLevel: Float = 4

    public init(finest: Int = 2, coarsest: Int = 5) { (self.finest, self.coarsest) = (finest, coarsest) }

    public func level(of box: Box) -> Int {
        let s = box.area.squareRoot()
        let target = (canonicalLevel + Foundation.log2(s / canonicalSize) + Float(1e-6)).rounded(.down)
        guard !target.isNaN else { return 0 }  // an inverted box (negative area): the finest level
        return Int(min(max(target, Float(finest)), Float(coarsest))) - finest
    }
}
