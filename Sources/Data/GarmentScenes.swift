import Foundation
import Tensors

/// The built-in segmentation data: scenes of 2 to 4 Fashion-MNIST garments at random positions
/// and sizes on a larger dark canvas, with a mask of their classes (0 = background, garment
/// class c = c + 1, so 11 classes). Deterministic: scene i is drawn from `seed` and i alone, so
/// the set needs no files and no memory beyond the garments it cuts from. Training scenes are
/// made from the training images and validation scenes from the test images, so that no
/// garment is seen in both.
///
/// A garment covers the pixels where its (resized) image is brighter than `threshold`; one drawn
/// later covers the ones below it. The canvas carries faint noise, so that "not dark" is not
/// all it takes to find a garment's outline.
public struct GarmentScenes: SegmentationDataset {
    public static let classes = ["background"] + FashionMNIST.classes
    public let garments: IDXDataset
    public let count: Int
    public let size: Int
    public let seed: UInt64
    public let threshold: Float = 24
    public var classes: [String] { Self.classes }
    public var channels: Int { 1 }

    /// `count` scenes of `size` x `size` pixels cut from `garments` (Fashion-MNIST's 28x28 images).
    public init(garments: IDXDataset, count: Int, size: Int = 96, seed: UInt64) throws {
        guard size >= 32 else { throw DataError("--base-size", "the built-in scenes need at least 32x32 pixels, got \(size)") }
        guard count >= 1 else { throw DataError("scenes", "need at least one scene, got \(count)") }
        (self.garments, self.count, self.size, self.seed) = (garments, count, size, seed)
    }

    /// The built-in training or validation scenes (Debian's Fashion-MNIST).
    public static func builtIn(train: Bool, count: Int? = nil, size: Int = 96) throws -> GarmentScenes {
        try GarmentScenes(garments: FashionMNIST.load(train: train), count: count ?? (train ? 10_000 : 2_000), size: size,
                          seed: train ? 1 : 2)
    }

    public func source(of index: Int) -> String { "fashion-mnist scene \(index) (seed \(seed), \(size)x\(size))" }

    public func sample(at index: Int) throws -> (image: Image, mask: Mask) {
        var rng = SeededGenerator(seed: seed, UInt64(index))
        var pixels = (0..<size * size).map { _ in Float.random(in: 0..<16, using: &rng) }
        var mask = Mask(width: size, height: size, labels: [UInt8](repeating: 0, count: size * size))
        for _ in 0..<Int.random(in: 2...4, using: &rng) {
            let which = Int.random(in: 0..<garments.count, using: &rng)
            let garment = try garments.image(at: which)
            let side = Int.random(in: 28...min(size, 2 * 28 + size / 4), using: &rng)
            let (left, top) = (Int.random(in: 0...(size - side), using: &rng), Int.random(in: 0...(size - side), using: &rng))
            let label = UInt8(garments.label(at: which) + 1)
            let resized = resizeBilinear(garment, x: 0, y: 0, width: garment.width, height: garment.height, toWidth: side, toHeight: side)
            for y in 0..<side {
                for x in 0..<side where resized[x, y, 0] > threshold {
                    pixels[(top + y) * size + left + x] = resized[x, y, 0]
                    mask[left + x, top + y] = label
                }
            }
        }
        return (Image(width: size, height: size, channels: 1, pixels: pixels), mask)
    }

}
