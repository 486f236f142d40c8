import Tensors

/// A segmentation dataset as a `Dataset` for `DataLoader`, so that segmentation gets the
/// loader's worker threads, prefetching, per-sample seeds (exact resume) and skip-and-report:
/// each sample's mask travels as one extra channel after the image's (labels 0-255 are exact
/// in Float32), `transform` applies the joint augmentation to the two together, and
/// `unpackSegmentationBatch` splits the batch back into images and per-pixel labels.
public struct SegmentationSamples: Dataset {
    public let base: any SegmentationDataset

    public init(_ base: any SegmentationDataset) { self.base = base }

    public var count: Int { base.count }
    public var classes: [String] { base.classes }
    /// The image's channels (the mask's extra one is the loader's business).
    public var channels: Int { base.channels }
    public func label(at index: Int) -> Int { 0 }
    public func source(of index: Int) -> String { base.source(of: index) }

    public func image(at index: Int) throws -> Image {
        let (image, mask) = try base.sample(at: index)
        guard (image.width, image.height) == (mask.width, mask.height) else {
            throw DataError(base.source(of: index), "mask is \(mask.width)x\(mask.height) but the image is \(image.width)x\(image.height)")
        }
        return packed(image, mask)
    }
}

/// `joint` on samples packed by `SegmentationSamples`.
public struct PackedJointTransform: Transform {
    public let joint: any JointTransform
    public init(_ joint: any JointTransform) { self.joint = joint }

    public func callAsFunction(_ image: Image, rng: inout SeededGenerator) throws -> Image {
        let (picture, mask) = unpacked(image)
        let (outImage, outMask) = try joint(picture, mask, rng: &rng)
        return packed(outImage, outMask)
    }
}

/// A batch of packed samples as images [N, C, H, W] and labels [N x H x W] (row-major per image).
public func unpackSegmentationBatch(_ batch: Batch) throws -> (images: Tensor, labels: [Int]) {
    let shape = batch.images.shape
    let (n, c, pixels) = (shape[0], shape[1] - 1, shape[2] * shape[3])
    let values = try batch.images.scalars
    var images = [Float](), labels = [Int]()
    images.reserveCapacity(n * c * pixels)
    labels.reserveCapacity(n * pixels)
    for i in 0..<n {
        let start = i * (c + 1) * pixels
        images += values[start ..< start + c * pixels]
        labels += values[start + c * pixels ..< start + (c + 1) * pixels].map { Int($0) }
    }
    return (try Tensor(shape: [n, c, shape[2], shape[3]], scalars: images), labels)
}

func packed(_ image: Image, _ mask: Mask) -> Image {
    let c = image.channels
    var pixels = [Float](repeating: 0, count: image.width * image.height * (c + 1))
    for p in 0..<image.width * image.height {
        for k in 0..<c { pixels[p * (c + 1) + k] = image.pixels[p * c + k] }
        pixels[p * (c + 1) + c] = Float(mask.labels[p])
    }
    return Image(width: image.width, height: image.height, channels: c + 1, pixels: pixels)
}

func unpacked(_ image: Image) -> (Image, Mask) {
    let c = image.channels - 1
    var pixels = [Float](repeating: 0, count: image.width * image.height * c)
    var labels = [UInt8](repeating: 0, count: image.width * image.height)
    for p in 0..<image.width * image.height {
        for k in 0..<c { pixels[p * c + k] = image.pixels[p * (c + 1) + k] }
        labels[p] = UInt8(max(0, min(255, image.pixels[p * (c + 1) + c].rounded())))
    }
    return (Image(width: image.width, height: image.height, channels: c, pixels: pixels), Mask(width: image.width, height: image.height, labels: labels))
}
