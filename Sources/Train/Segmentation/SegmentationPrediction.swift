import Data
import Foundation
import NN
import Tensors

extension SegmentationTask {
    /// One image file and its predicted mask at the same size (what `tricks segment predict`
    /// writes): the model sees the image with its shorter side at the training base size, in
    /// `precision` where the device computes in it, and the mask comes back by nearest neighbour.
    public static func predict(_ model: Module, info: ModelInfo, path: String, precision: DataType) throws -> (image: Image, mask: Mask) {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot read the file") }
        let image = try ImageCodec.decode(Array(bytes), path: path, channels: info.inputChannels)
        var rng = SeededGenerator(seed: 0)
        let blank = Mask(width: image.width, height: image.height, labels: [UInt8](repeating: 0, count: image.width * image.height))
        let (input, _) = try Pipelines.segmentationEval(baseSize: info.inputSize ?? 96, normalize: Normalize(mean: info.mean, std: info.std))(
            image, blank, rng: &rng)
        let device = model.namedParameters().first?.1.device ?? .cpu
        let scores = try GradMode.withoutGradient {
            try Autocast.with(precision) { try model(nchwTensor([input]).to(device)) }.converted(to: .float32)
        }
        let small = Mask(width: input.width, height: input.height, labels: try argmaxOverClasses(scores).map { UInt8($0) })
        var rescaled = try RandomResize(minSize: min(image.width, image.height), maxSize: min(image.width, image.height))(input, small, rng: &rng).1
        if (rescaled.width, rescaled.height) != (image.width, image.height) {  // rounding of the two resizes
            rescaled = Mask(width: image.width, height: image.height, labels: (0..<image.width * image.height).map {
                rescaled[min($0 % image.width, rescaled.width - 1), min($0 / image.width, rescaled.height - 1)]
            })
        }
        return (image, rescaled)
    }

    /// Half the image, half the class colour (VOC's palette) where a class other than 0 (the
    /// background in the built-in scenes and in VOC) was found.
    public static func overlay(_ image: Image, _ mask: Mask) -> Image {
        var out = Image(width: image.width, height: image.height, channels: 3, pixels: [Float](repeating: 0, count: image.width * image.height * 3))
        for p in 0..<image.width * image.height {
            let label = Int(mask.labels[p])
            for c in 0..<3 {
                let value = image.pixels[p * image.channels + min(c, image.channels - 1)]
                out.pixels[p * 3 + c] = label == 0 ? value : 0.5 * value + 0.5 * Float(Mask.vocPalette[label * 3 + c])
            }
        }
        return out
    }
}
