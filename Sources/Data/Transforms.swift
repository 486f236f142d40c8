import Foundation
import Tensors

/// One step of an augmentation pipeline. Randomness comes only from `rng`, which the loader
/// seeds per (seed, epoch, sample), so that results do not depend on thread scheduling.
public protocol Transform: Sendable {
    func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image
}

/// Transforms applied in order, like `torchvision.transforms.Compose`.
public struct Compose: Transform {
    public var steps: [any Transform]
    public init(_ steps: [any Transform]) { self.steps = steps }
    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        try steps.reduce(image) { try $1($0, rng: &rng) }
    }
}

/// The paper's training crop (torchvision's `RandomResizedCrop`): a rectangle with area
/// U[scale] of the image and aspect ratio log-uniform in `ratio`, 10 tries, else a centre crop
/// of the clamped ratio; resized bilinearly to `size` x `size`.
public struct RandomResizedCrop: Transform {
    public var size: Int
    public var scale: ClosedRange<Double> = 0.08...1
    public var ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)

    public init(size: Int, scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)) {
        (self.size, self.scale, self.ratio) = (size, scale, ratio)
    }

    /// (x, y, width, height) of the crop.
    public func window(width: Int, height: Int, rng: inout SeededGenerator) -> (Int, Int, Int, Int) {
        let area = Double(width * height)
        for _ in 0..<10 {
            let target = area * Double.random(in: scale, using: &rng)
            let aspect = exp(Double.random(in: log(ratio.lowerBound)...log(ratio.upperBound), using: &rng))
            let w = Int((target * aspect).squareRoot().rounded()), h = Int((target / aspect).squareRoot().rounded())
            if w > 0, h > 0, w <= width, h <= height {
                return (Int.random(in: 0...(width - w), using: &rng), Int.random(in: 0...(height - h), using: &rng), w, h)
            }
        }
        let aspect = Double(width) / Double(height)
        var (w, h) = (width, height)
        if aspect < ratio.lowerBound { h = Int((Double(w) / ratio.lowerBound).rounded()) }
        else if aspect > ratio.upperBound { w = Int((Double(h) * ratio.upperBound).rounded()) }
        return ((width - w) / 2, (height - h) / 2, w, h)
    }

    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        let (x, y, w, h) = window(width: image.width, height: image.height, rng: &rng)
        return resizeBilinear(image, x: x, y: y, width: w, height: h, toWidth: size, toHeight: size)
    }
}

/// Resizes so that the shorter side is `size`, keeping the aspect ratio (validation).
public struct ResizeShorter: Transform {
    public var size: Int
    public init(_ size: Int) { self.size = size }
    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        let scale = Double(size) / Double(min(image.width, image.height))
        let w = max(1, Int((Double(image.width) * scale).rounded())), h = max(1, Int((Double(image.height) * scale).rounded()))
        if w == image.width && h == image.height { return image }
        return resizeBilinear(image, x: 0, y: 0, width: image.width, height: image.height, toWidth: w, toHeight: h)
    }
}

/// The central `size` x `size` square.
public struct CenterCrop: Transform {
    public var size: Int
    public init(_ size: Int) { self.size = size }
    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        guard image.width >= size, image.height >= size else {
            throw DataError("center_crop", "image of \(image.width)x\(image.height) is smaller than the \(size)x\(size) crop")
        }
        return crop(image, x: (image.width - size) / 2, y: (image.height - size) / 2, width: size, height: size)
    }
}

/// Mirror left-right with probability `p`.
public struct RandomHorizontalFlip: Transform {
    public var p: Double
    public init(p: Double = 0.5) { self.p = p }
    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        Double.random(in: 0..<1, using: &rng) < p ? mirrored(image) : image
    }
}

/// Zero-pad by `padding` on every side, then a random `size` x `size` crop: the CIFAR recipe.
public struct PadRandomCrop: Transform {
    public var padding: Int, size: Int?
    /// `size` nil keeps the image's own size.
    public init(padding: Int = 4, size: Int? = nil) { (self.padding, self.size) = (padding, size) }
    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        let (w, h) = (size ?? image.width, size ?? image.height)
        let x = Int.random(in: 0...(image.width + 2 * padding - w), using: &rng)
        let y = Int.random(in: 0...(image.height + 2 * padding - h), using: &rng)
        var out = Image(width: w, height: h, channels: image.channels, pixels: [Float](repeating: 0, count: w * h * image.channels))
        for oy in 0..<h {
            let sy = y + oy - padding
            guard sy >= 0, sy < image.height else { continue }
            for ox in 0..<w {
                let sx = x + ox - padding
                guard sx >= 0, sx < image.width else { continue }
                for c in 0..<image.channels { out[ox, oy, c] = image[sx, sy, c] }
            }
        }
        return out
    }
}

/// The paper's colour augmentation: brightness, saturation and hue, each scaled by a
/// coefficient drawn from U[1 - s, 1 + s] (s = 0.4: U[0.6, 1.4]), applied in random order as
/// GluonCV does. Brightness multiplies the pixels; saturation blends with the grey (luma)
/// image; hue rotates the chroma in YIQ space by (c - 1) x pi, GluonCV's hue jitter.
/// Grey images get brightness only.
public struct ColorJitter: Transform {
    public var brightness: Double, saturation: Double, hue: Double
    public init(brightness: Double = 0.4, saturation: Double = 0.4, hue: Double = 0.4) {
        (self.brightness, self.saturation, self.hue) = (brightness, saturation, hue)
    }

    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        var image = image
        var order = [0, 1, 2]
        order.shuffle(using: &rng)
        for step in order {
            switch step {
            case 0 where brightness > 0:
                let c = Float(Double.random(in: (1 - brightness)...(1 + brightness), using: &rng))
                for i in image.pixels.indices { image.pixels[i] *= c }
            case 1 where saturation > 0 && image.channels == 3:
                let c = Float(Double.random(in: (1 - saturation)...(1 + saturation), using: &rng))
                for p in stride(from: 0, to: image.pixels.count, by: 3) {
                    let grey = 0.299 * image.pixels[p] + 0.587 * image.pixels[p + 1] + 0.114 * image.pixels[p + 2]
                    for k in 0..<3 { image.pixels[p + k] = image.pixels[p + k] * c + grey * (1 - c) }
                }
            case 2 where hue > 0 && image.channels == 3:
                let c = Double.random(in: (1 - hue)...(1 + hue), using: &rng)
                image = rotateHue(image, angle: (c - 1) * Double.pi)
            default:
                break
            }
        }
        return image
    }
}

/// AlexNet-style PCA lighting noise: alpha_c ~ N(0, `alphaStd`), and eigvec x (alpha .* eigval)
/// is added to every RGB pixel (values in [0, 255]). ImageNet's eigen values and vectors by
/// default. Grey images are left as they are.
public struct Lighting: Transform {
    public var alphaStd: Double
    public var eigenvalues: [Float] = [55.46, 4.794, 1.148]
    public var eigenvectors: [[Float]] = [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]

    public init(alphaStd: Double = 0.1) { self.alphaStd = alphaStd }

    /// The RGB offset for given alphas.
    public func offset(alpha: [Float]) -> [Float] {
        (0..<3).map { row in (0..<3).reduce(Float(0)) { $0 + eigenvectors[row][$1] * alpha[$1] * eigenvalues[$1] } }
    }

    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        guard image.channels == 3, alphaStd > 0 else { return image }
        let alpha = (0..<3).map { _ in Float(alphaStd * rng.nextNormal()) }
        let delta = offset(alpha: alpha)
        var image = image
        for p in stride(from: 0, to: image.pixels.count, by: 3) { for c in 0..<3 { image.pixels[p + c] += delta[c] } }
        return image
    }
}

/// (x - mean) / std per channel.
public struct Normalize: Transform {
    public var mean: [Float], std: [Float]
    public init(mean: [Float], std: [Float]) { (self.mean, self.std) = (mean, std) }
    /// The paper's RGB statistics (ImageNet, values in [0, 255]).
    public static let imagenet = Normalize(mean: [123.68, 116.779, 103.939], std: [58.393, 57.12, 57.375])

    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        guard mean.count == image.channels, std.count == image.channels else {
            throw DataError("normalize", "\(mean.count) means and \(std.count) stds for an image with \(image.channels) channels")
        }
        var image = image
        let c = image.channels
        for i in image.pixels.indices { image.pixels[i] = (image.pixels[i] - mean[i % c]) / std[i % c] }
        return image
    }
}

/// The pipelines of the paper (section 2) and of CIFAR-style training.
public enum Pipelines {
    /// Random-resized crop, flip, `extra` (RandAugment, ...), colour jitter, PCA lighting, normalisation.
    public static func imagenetTrain(size: Int = 224, normalize: Normalize = .imagenet, extra: [any Transform] = []) -> Compose {
        Compose([RandomResizedCrop(size: size), RandomHorizontalFlip()] + extra + [ColorJitter(), Lighting(), normalize])
    }

    /// Shorter side to `resize`, centre crop `size`, normalisation.
    public static func imagenetEval(resize: Int = 256, size: Int = 224, normalize: Normalize = .imagenet) -> Compose {
        Compose([ResizeShorter(resize), CenterCrop(size), normalize])
    }

    /// Zero-pad 4, random crop back to the image's size (or to `size`), flip, normalisation:
    /// the CIFAR ResNets' augmentation.
    public static func smallImageTrain(normalize: Normalize, padding: Int = 4, size: Int? = nil, extra: [any Transform] = []) -> Compose {
        Compose([PadRandomCrop(padding: padding, size: size), RandomHorizontalFlip()] + extra + [normalize])
    }
}

// MARK: - Pixel operations

func crop(_ image: Image, x: Int, y: Int, width: Int, height: Int) -> Image {
    var pixels = [Float]()
    pixels.reserveCapacity(width * height * image.channels)
    for row in y..<(y + height) {
        let start = (row * image.width + x) * image.channels
        pixels += image.pixels[start ..< start + width * image.channels]
    }
    return Image(width: width, height: height, channels: image.channels, pixels: pixels)
}

func mirrored(_ image: Image) -> Image {
    var out = image
    for y in 0..<image.height { for x in 0..<image.width { for c in 0..<image.channels {
        out[x, y, c] = image[image.width - 1 - x, y, c]
    } } }
    return out
}

/// Bilinear resampling of the window (x, y, width, height) to toWidth x toHeight, with pixel
/// centres at half-integers (PyTorch's align_corners=False).
func resizeBilinear(_ image: Image, x: Int, y: Int, width: Int, height: Int, toWidth: Int, toHeight: Int) -> Image {
    let channels = image.channels
    var out = [Float](repeating: 0, count: toWidth * toHeight * channels)
    let sx = Double(width) / Double(toWidth), sy = Double(height) / Double(toHeight)
    // Per output column: the two source columns and the weight of the second.
    let columns: [(Int, Int, Float)] = (0..<toWidth).map { ox in
        let fx = max(0, min(Double(width - 1), (Double(ox) + 0.5) * sx - 0.5))
        let x0 = Int(fx)
        return (x + x0, x + min(x0 + 1, width - 1), Float(fx - Double(x0)))
    }
    image.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for oy in 0..<toHeight {
                let fy = max(0, min(Double(height - 1), (Double(oy) + 0.5) * sy - 0.5))
                let y0 = Int(fy), y1 = min(y0 + 1, height - 1), wy = Float(fy - Double(y0))
                let row0 = (y + y0) * image.width, row1 = (y + y1) * image.width
                for (ox, (x0, x1, wx)) in columns.enumerated() {
                    for c in 0..<channels {
                        let top = src[(row0 + x0) * channels + c] * (1 - wx) + src[(row0 + x1) * channels + c] * wx
                        let bottom = src[(row1 + x0) * channels + c] * (1 - wx) + src[(row1 + x1) * channels + c] * wx
                        dst[(oy * toWidth + ox) * channels + c] = top * (1 - wy) + bottom * wy
                    }
                }
            }
        }
    }
    return Image(width: toWidth, height: toHeight, channels: channels, pixels: out)
}

/// Rotates the chroma (I, Q) of every pixel in YIQ space by `angle`, keeping luma.
func rotateHue(_ image: Image, angle: Double) -> Image {
    let (u, w) = (Float(cos(angle)), Float(sin(angle)))
    var image = image
    for p in stride(from: 0, to: image.pixels.count, by: 3) {
        let (r, g, b) = (image.pixels[p], image.pixels[p + 1], image.pixels[p + 2])
        let yy = 0.299 * r + 0.587 * g + 0.114 * b
        let i = 0.596 * r - 0.274 * g - 0.322 * b
        let q = 0.211 * r - 0.523 * g + 0.312 * b
        let (i2, q2) = (u * i - w * q, w * i + u * q)
        image.pixels[p] = yy + 0.956 * i2 + 0.621 * q2
        image.pixels[p + 1] = yy - 0.272 * i2 - 0.647 * q2
        image.pixels[p + 2] = yy - 1.106 * i2 + 1.703 * q2
    }
    return image
}
