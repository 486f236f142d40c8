import Foundation
import Tensors

/// The image operations of RandAugment (Cubuk et al. 2020) and TrivialAugment (Müller and
/// Hutter 2021) as torchvision implements them (`torchvision.transforms.RandAugment`,
/// `TrivialAugmentWide`): on [0, 255] images, each result clamped and truncated to bytes as
/// torchvision's uint8 tensors are; geometric ones by nearest-neighbour sampling with black fill.
public enum AugmentOp: String, CaseIterable, Sendable {
    case identity, shearX, shearY, translateX, translateY, rotate, brightness, color, contrast, sharpness,
         posterize, solarize, autoContrast, equalize

    /// Whether a magnitude is negated half of the time.
    var signed: Bool { [.shearX, .shearY, .translateX, .translateY, .rotate, .brightness, .color, .contrast, .sharpness].contains(self) }

    /// torchvision's magnitude for bin `bin` of `bins` (0...bins-1); `wide` is TrivialAugmentWide's space.
    func magnitude(bin: Int, bins: Int, width: Int, height: Int, wide: Bool) -> Double {
        func linspace(_ a: Double, _ b: Double) -> Double { bins > 1 ? a + (b - a) * Double(bin) / Double(bins - 1) : a }
        switch self {
        case .identity, .autoContrast, .equalize: return 0
        case .shearX, .shearY: return linspace(0, wide ? 0.99 : 0.3)
        case .translateX: return linspace(0, wide ? 32 : 150.0 / 331 * Double(width))
        case .translateY: return linspace(0, wide ? 32 : 150.0 / 331 * Double(height))
        case .rotate: return linspace(0, wide ? 135 : 30)
        case .brightness, .color, .contrast, .sharpness: return linspace(0, wide ? 0.99 : 0.9)
        case .posterize: return 8 - (Double(bin) / (Double(bins - 1) / (wide ? 6 : 4))).rounded(.toNearestOrEven)
        case .solarize: return linspace(255, 0)
        }
    }

    /// Every operation's magnitude for one bin (for tests and tools).
    public static func magnitudes(bin: Int, bins: Int, width: Int, height: Int, wide: Bool) -> [AugmentOp: Double] {
        Dictionary(uniqueKeysWithValues: allCases.map { ($0, $0.magnitude(bin: bin, bins: bins, width: width, height: height, wide: wide)) })
    }

    /// `image` with this operation of strength `magnitude` applied.
    public func apply(_ image: Image, magnitude m: Double) -> Image {
        var out: Image
        switch self {
        case .identity: return image
        case .shearX: out = affine(image) { x, y in (x + m * y, y) }  // torchvision shears about the corner (0, 0)
        case .shearY: out = affine(image) { x, y in (x, y + m * x) }
        case .translateX: out = affine(image) { x, y in (x - m.rounded(.towardZero), y) }
        case .translateY: out = affine(image) { x, y in (x, y - m.rounded(.towardZero)) }
        case .rotate:
            // Counter-clockwise by m degrees about the centre: sample the source clockwise.
            let (c, s) = (cos(m * .pi / 180), sin(m * .pi / 180))
            let (cx, cy) = (Double(image.width) / 2, Double(image.height) / 2)
            out = affine(image) { x, y in
                let (dx, dy) = (x + 0.5 - cx, y + 0.5 - cy)
                return (c * dx - s * dy + cx - 0.5, s * dx + c * dy + cy - 0.5)
            }
        case .brightness: out = blend(image, with: Image(width: image.width, height: image.height, channels: image.channels,
                                                          pixels: [Float](repeating: 0, count: image.pixels.count)), factor: 1 + m)
        case .color: out = image.channels == 3 ? blend(image, with: grey(image), factor: 1 + m) : image
        case .contrast:
            let g = grey(image), mean = g.pixels.reduce(0, +) / Float(g.pixels.count)
            out = blend(image, with: Image(width: image.width, height: image.height, channels: image.channels,
                                           pixels: [Float](repeating: mean, count: image.pixels.count)), factor: 1 + m)
        case .sharpness: out = blend(image, with: smoothed(image), factor: 1 + m)
        case .posterize:
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - max(0, min(8, Int(m)))))
            out = image
            for i in out.pixels.indices { out.pixels[i] = Float(UInt8(clamping: Int(out.pixels[i].rounded())) & mask) }
        case .solarize:
            out = image
            for i in out.pixels.indices where Double(out.pixels[i]) >= m { out.pixels[i] = 255 - out.pixels[i] }
        case .autoContrast:
            out = image
            for c in 0..<image.channels {
                let values = stride(from: c, to: image.pixels.count, by: image.channels).map { image.pixels[$0] }
                let (low, high) = (values.min() ?? 0, values.max() ?? 255)
                guard high > low else { continue }
                let scale = 255 / (high - low)
                for i in stride(from: c, to: out.pixels.count, by: image.channels) { out.pixels[i] = (out.pixels[i] - low) * scale }
            }
        case .equalize: out = equalized(image)
        }
        for i in out.pixels.indices { out.pixels[i] = max(0, min(255, out.pixels[i])).rounded(.towardZero) }
        return out
    }
}

/// RandAugment: `count` operations drawn uniformly (with replacement) from all but none, each
/// at `magnitude` of 31 bins (torchvision's defaults: 2 operations, magnitude 9), the signed
/// ones negated half of the time. `--randaugment m9-n2`.
public struct RandAugment: Transform {
    public var count: Int, magnitude: Int
    public static let bins = 31

    public init(count: Int = 2, magnitude: Int = 9) { (self.count, self.magnitude) = (count, magnitude) }

    /// "m9-n2" (or timm's "rand-m9-n2"), in either order.
    public init?(policy: String) {
        var (count, magnitude) = (2, 9)
        for part in policy.split(separator: "-") where part != "rand" {
            guard let value = Int(part.dropFirst()), value >= 0 else { return nil }
            switch part.first {
            case "m": magnitude = value
            case "n": count = value
            default: return nil
            }
        }
        guard magnitude < RandAugment.bins else { return nil }
        self.init(count: count, magnitude: magnitude)
    }

    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        var image = image
        for _ in 0..<count {
            let op = AugmentOp.allCases.randomElement(using: &rng)!
            var m = op.magnitude(bin: magnitude, bins: Self.bins, width: image.width, height: image.height, wide: false)
            if op.signed && Bool.random(using: &rng) { m = -m }
            image = op.apply(image, magnitude: m)
        }
        return image
    }
}

/// TrivialAugmentWide: one operation drawn uniformly, at a magnitude drawn uniformly from its
/// wide range (31 bins), signed ones negated half of the time. `--trivialaugment wide`.
public struct TrivialAugmentWide: Transform {
    public init() {}

    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        let op = AugmentOp.allCases.randomElement(using: &rng)!
        let bin = Int.random(in: 0..<RandAugment.bins, using: &rng)
        var m = op.magnitude(bin: bin, bins: RandAugment.bins, width: image.width, height: image.height, wide: true)
        if op.signed && Bool.random(using: &rng) { m = -m }
        return op.apply(image, magnitude: m)
    }
}

// MARK: - Pixel operations

/// Each output pixel (x, y) takes the source pixel nearest to `source(x, y)`, black outside.
func affine(_ image: Image, source: (Double, Double) -> (Double, Double)) -> Image {
    var out = Image(width: image.width, height: image.height, channels: image.channels, pixels: [Float](repeating: 0, count: image.pixels.count))
    for y in 0..<image.height {
        for x in 0..<image.width {
            let (sx, sy) = source(Double(x), Double(y))
            let (ix, iy) = (Int(sx.rounded()), Int(sy.rounded()))
            guard ix >= 0, ix < image.width, iy >= 0, iy < image.height else { continue }
            for c in 0..<image.channels { out[x, y, c] = image[ix, iy, c] }
        }
    }
    return out
}

/// factor * image + (1 - factor) * other, as PIL's ImageEnhance and torchvision's blend.
func blend(_ image: Image, with other: Image, factor: Double) -> Image {
    var out = image
    let f = Float(factor)
    for i in out.pixels.indices { out.pixels[i] = max(0, min(255, f * image.pixels[i] + (1 - f) * other.pixels[i])) }
    return out
}

/// The ITU-R 601 luma, in every channel (rounded down as torchvision's rgb_to_grayscale on uint8).
func grey(_ image: Image) -> Image {
    guard image.channels == 3 else { return image }
    var out = image
    for p in stride(from: 0, to: image.pixels.count, by: 3) {
        let l = (0.2989 * image.pixels[p] + 0.587 * image.pixels[p + 1] + 0.114 * image.pixels[p + 2]).rounded(.down)
        (out.pixels[p], out.pixels[p + 1], out.pixels[p + 2]) = (l, l, l)
    }
    return out
}

/// PIL's SMOOTH filter (3x3, centre 5, the rest 1, over 13), the border left as it is.
func smoothed(_ image: Image) -> Image {
    var out = image
    guard image.width > 2, image.height > 2 else { return out }
    for y in 1..<(image.height - 1) {
        for x in 1..<(image.width - 1) {
            for c in 0..<image.channels {
                var sum: Float = 4 * image[x, y, c]
                for dy in -1...1 { for dx in -1...1 { sum += image[x + dx, y + dy, c] } }
                out[x, y, c] = (sum / 13).rounded()
            }
        }
    }
    return out
}

/// Per-channel histogram equalisation, as PIL's ImageOps.equalize (and torchvision's).
func equalized(_ image: Image) -> Image {
    var out = image
    for c in 0..<image.channels {
        let indices = Array(stride(from: c, to: image.pixels.count, by: image.channels))
        var histogram = [Int](repeating: 0, count: 256)
        for i in indices { histogram[Int(max(0, min(255, image.pixels[i].rounded())))] += 1 }
        let nonzero = histogram.filter { $0 > 0 }
        guard nonzero.count > 1 else { continue }
        let step = (nonzero.reduce(0, +) - nonzero.last!) / 255
        guard step > 0 else { continue }
        var lut = [Float](repeating: 0, count: 256), running = step / 2
        for v in 0..<256 {
            lut[v] = Float(min(255, running / step))
            running += histogram[v]
        }
        for i in indices { out.pixels[i] = lut[Int(max(0, min(255, image.pixels[i].rounded())))] }
    }
    return out
}
