import Tensors

/// The built-in detection data (issue 29): scenes of Fashion-MNIST garments on a dark canvas, as
/// `GarmentScenes` draws them, each garment's box and class from where it was placed: the box
/// is the tight extent of the pixels it drew (brighter than `threshold`), in pixel edges
/// (x2 = last column + 1, as torchvision's boxes). A placement whose box would overlap an earlier
/// one by IoU over `maximumOverlap` is drawn again (up to 20 times, else that garment is left
/// out), so that every box still shows most of its garment. About `emptyFraction` of the scenes
/// hold no object at all (a detector must learn to say nothing). Deterministic: scene i is drawn
/// from `seed` and i alone.
public struct GarmentDetectionScenes: DetectionDataset {
    /// The object classes (Fashion-MNIST's); label k is `classes[k - 1]`.
    public let classes = FashionMNIST.classes
    public let channels = 1
    public let garments: IDXDataset
    public let count: Int, size: Int, seed: UInt64
    public let emptyFraction: Double
    public let threshold: Float = 24
    public let maximumOverlap: Float = 0.3

    public init(garments: IDXDataset, count: Int, size: Int = 128, seed: UInt64, emptyFraction: Double = 0.1) throws {
        guard size >= 32 else { throw DataError("--scene-size", "the built-in scenes need at least 32x32 pixels, got \(size)") }
        guard count >= 1 else { throw DataError("scenes", "need at least one scene, got \(count)") }
        guard (0...1).contains(emptyFraction) else { throw DataError("--empty-fraction", "must be in [0, 1], got \(emptyFraction)") }
        (self.garments, self.count, self.size, self.seed, self.emptyFraction) = (garments, count, size, seed, emptyFraction)
    }

    /// The built-in training scenes (from Fashion-MNIST's training images) or validation scenes
    /// (from its test images, so no garment is in both).
    public static func builtIn(train: Bool, count: Int? = nil, size: Int = 128, emptyFraction: Double = 0.1) throws -> GarmentDetectionScenes {
        try GarmentDetectionScenes(garments: FashionMNIST.load(train: train), count: count ?? (train ? 4_000 : 1_000), size: size,
                                   seed: train ? 3 : 4, emptyFraction: emptyFraction)
    }

    public func source(of index: Int) -> String { "fashion-mnist detection scene \(index) (seed \(seed), \(size)x\(size))" }

    /// Scene `index`: one channel in [0, 255], labels 1 ... 10 (the garment's Fashion-MNIST class + 1).
    public func sample(at index: Int) throws -> DetectionSample {
        var rng = SeededGenerator(seed: seed, UInt64(index))
        var pixels = (0..<size * size).map { _ in Float.random(in: 0..<16, using: &rng) }
        var boxes: [[Float]] = [], labels: [Int] = []
        let objects = Double.random(in: 0..<1, using: &rng) < emptyFraction ? 0 : Int.random(in: 1...4, using: &rng)
        for _ in 0..<objects {
            let which = Int.random(in: 0..<garments.count, using: &rng)
            let garment = try garments.image(at: which)
            for _ in 0..<20 {
                let side = Int.random(in: 28...min(size, 2 * 28 + size / 4), using: &rng)
                let (left, top) = (Int.random(in: 0...(size - side), using: &rng), Int.random(in: 0...(size - side), using: &rng))
                let resized = resizeBilinear(garment, x: 0, y: 0, width: garment.width, height: garment.height, toWidth: side, toHeight: side)
                var (x1, y1, x2, y2) = (side, side, -1, -1)
                for y in 0..<side { for x in 0..<side where resized[x, y, 0] > threshold { (x1, y1, x2, y2) = (min(x1, x), min(y1, y), max(x2, x), max(y2, y)) } }
                guard x2 >= 0 else { break }  // nothing brighter than the threshold: leave it out
                let box: [Float] = [Float(left + x1), Float(top + y1), Float(left + x2 + 1), Float(top + y2 + 1)]
                guard boxes.allSatisfy({ Self.iou($0, box) <= maximumOverlap }) else { continue }
                for y in 0..<side { for x in 0..<side where resized[x, y, 0] > threshold { pixels[(top + y) * size + left + x] = resized[x, y, 0] } }
                boxes.append(box)
                labels.append(garments.label(at: which) + 1)
                break
            }
        }
        return DetectionSample(image: Image(width: size, height: size, channels: 1, pixels: pixels), boxes: boxes, labels: labels)
    }

    static func iou(_ a: [Float], _ b: [Float]) -> Float {
        let w = max(min(a[2], b[2]) - max(a[0], b[0]), 0), h = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
        let intersection = w * h
        return intersection / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection)
    }
}
