import Tensors

/// Augmentation of an image and its mask together, as torchvision's segmentation reference
/// (`references/segmentation/transforms.py`): geometry moves both (the image bilinearly, the
/// mask by nearest neighbour, so labels stay labels); colour touches the image only.
public protocol JointTransform: Sendable {
    func callAsFunction(_ image: Image, _ mask: Mask, rng: inout SeededGenerator) throws -> (Image, Mask)
}

/// Joint transforms in order.
public struct JointCompose: JointTransform {
    public var steps: [any JointTransform]
    public init(_ steps: [any JointTransform]) { self.steps = steps }
    public func callAsFunction(_ image: Image, _ mask: Mask, rng: inout SeededGenerator) throws -> (Image, Mask) {
        var (image, mask) = (image, mask)
        for step in steps { (image, mask) = try step(image, mask, rng: &rng) }
        return (image, mask)
    }
}

/// An image-only transform (colour jitter, normalisation) inside a joint pipeline.
public struct ImageOnly: JointTransform {
    public var transform: any Transform
    public init(_ transform: any Transform) { self.transform = transform }
    public func callAsFunction(_ image: Image, _ mask: Mask, rng: inout SeededGenerator) throws -> (Image, Mask) {
        (try transform(image, rng: &rng), mask)
    }
}

/// The shorter side to a size drawn from `minSize...maxSize` (torchvision's `RandomResize`;
/// FCN's recipe: 0.5 to 2 times the base size). Equal bounds resize to that size.
public struct RandomResize: JointTransform {
    public var minSize: Int, maxSize: Int
    public init(minSize: Int, maxSize: Int) { (self.minSize, self.maxSize) = (minSize, max(minSize, maxSize)) }
    public func callAsFunction(_ image: Image, _ mask: Mask, rng: inout SeededGenerator) throws -> (Image, Mask) {
        let size = Int.random(in: minSize...maxSize, using: &rng)
        let scale = Double(size) / Double(min(image.width, image.height))
        let w = max(1, Int((Double(image.width) * scale).rounded())), h = max(1, Int((Double(image.height) * scale).rounded()))
        if w == image.width && h == image.height { return (image, mask) }
        return (resizeBilinear(image, x: 0, y: 0, width: image.width, height: image.height, toWidth: w, toHeight: h),
                resizeNearest(mask, toWidth: w, toHeight: h))
    }
}

/// Mirror both with probability 1/2.
public struct JointHorizontalFlip: JointTransform {
    public init() {}
    public func callAsFunction(_ image: Image, _ mask: Mask, rng: inout SeededGenerator) throws -> (Image, Mask) {
        guard Bool.random(using: &rng) else { return (image, mask) }
        var flipped = mask
        for y in 0..<mask.height { for x in 0..<mask.width { flipped[x, y] = mask[mask.width - 1 - x, y] } }
        return (mirrored(image), flipped)
    }
}

/// A random `size` x `size` window; an image smaller than that is first padded on the right and
/// bottom with 0 and its mask with the ignore label (torchvision's `RandomCrop` with `pad_if_smaller`).
public struct JointRandomCrop: JointTransform {
    public var size: Int
    public init(size: Int) { self.size = size }
    public func callAsFunction(_ image: Image, _ mask: Mask, rng: inout SeededGenerator) throws -> (Image, Mask) {
        let (w, h) = (max(size, image.width), max(size, image.height))
        let left = Int.random(in: 0...(w - size), using: &rng), top = Int.random(in: 0...(h - size), using: &rng)
        var cropped = Image(width: size, height: size, channels: image.channels,
                            pixels: [Float](repeating: 0, count: size * size * image.channels))
        var croppedMask = Mask(width: size, height: size, labels: [UInt8](repeating: Mask.ignoreIndex, count: size * size))
        for y in 0..<size where top + y < image.height {
            for x in 0..<size where left + x < image.width {
                for c in 0..<image.channels { cropped[x, y, c] = image[left + x, top + y, c] }
                croppedMask[x, y] = mask[left + x, top + y]
            }
        }
        return (cropped, croppedMask)
    }
}

/// Nearest-neighbour resampling of a mask, with the pixel centres `resizeBilinear` uses.
func resizeNearest(_ mask: Mask, toWidth: Int, toHeight: Int) -> Mask {
    let sx = Double(mask.width) / Double(toWidth), sy = Double(mask.height) / Double(toHeight)
    var out = Mask(width: toWidth, height: toHeight, labels: [UInt8](repeating: 0, count: toWidth * toHeight))
    for y in 0..<toHeight {
        let source = min(mask.height - 1, Int((Double(y) + 0.5) * sy))
        for x in 0..<toWidth { out[x, y] = mask[min(mask.width - 1, Int((Double(x) + 0.5) * sx)), source] }
    }
    return out
}

extension Pipelines {
    /// FCN's training augmentation (torchvision's segmentation reference): shorter side to
    /// 0.5-2x `baseSize`, flip, `cropSize` crop (padding with the ignore label), colour jitter
    /// on the image only, normalise.
    public static func segmentationTrain(baseSize: Int, cropSize: Int, normalize: Normalize) -> JointCompose {
        JointCompose([RandomResize(minSize: baseSize / 2, maxSize: baseSize * 2), JointHorizontalFlip(), JointRandomCrop(size: cropSize),
                      ImageOnly(ColorJitter(brightness: 0.4, saturation: 0.4, hue: 0)), ImageOnly(normalize)])
    }

    /// Evaluation on whole images: the shorter side to `baseSize`, normalise.
    public static func segmentationEval(baseSize: Int, normalize: Normalize) -> JointCompose {
        JointCompose([RandomResize(minSize: baseSize, maxSize: baseSize), ImageOnly(normalize)])
    }
}
