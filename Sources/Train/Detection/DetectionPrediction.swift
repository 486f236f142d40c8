import Data
import Foundation
import Models
import NN
import Tensors

extension DetectionTask {
    /// One image file's detections by `model` (a `FasterRCNN`), in the image's pixels, in
    /// `precision` where the CPU computes in it (what `tricks detect predict` writes).
    public static func predict(_ model: Module, info: ModelInfo, path: String, precision: DataType) throws -> (image: Image, detections: [Detection]) {
        guard let detector = model as? FasterRCNN else { throw TrainError(path, "\(info.model) is not a detector") }
        guard let bytes = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot read the file") }
        let image = try ImageCodec.decode(Array(bytes), path: path, channels: info.inputChannels)
        detector.eval()
        let found = try GradMode.withoutGradient {
            try Autocast.with(precision) { try detector.detect([detectionTensor(image).to(detector.device)]) }
        }
        return (image, found[0])
    }

    /// The image in colour with each detection's box drawn 2 pixels wide in its class's colour
    /// (VOC's palette), stronger for higher scores.
    public static func overlay(_ image: Image, _ detections: [Detection]) -> Image {
        let (w, h) = (image.width, image.height)
        var out = Image(width: w, height: h, channels: 3, pixels: [Float](repeating: 0, count: w * h * 3))
        for p in 0..<w * h { for c in 0..<3 { out.pixels[p * 3 + c] = image.pixels[p * image.channels + min(c, image.channels - 1)] } }
        for d in detections.reversed() {  // the best drawn last, on top
            let (x1, y1) = (max(0, Int(d.box.x1.rounded())), max(0, Int(d.box.y1.rounded())))
            let (x2, y2) = (min(w - 1, Int(d.box.x2.rounded()) - 1), min(h - 1, Int(d.box.y2.rounded()) - 1))
            guard x2 >= x1, y2 >= y1 else { continue }
            let colour = (0..<3).map { Float(Mask.vocPalette[(d.label % 255 + 1) * 3 + $0]) }
            let strength = 0.4 + 0.6 * min(1, max(0, d.score))
            func paint(_ x: Int, _ y: Int) {
                for c in 0..<3 { out.pixels[(y * w + x) * 3 + c] = (1 - strength) * out.pixels[(y * w + x) * 3 + c] + strength * colour[c] }
            }
            for t in 0..<2 {
                for x in x1...x2 { paint(x, min(y2, y1 + t)); paint(x, max(y1, y2 - t)) }
                for y in y1...y2 { paint(min(x2, x1 + t), y); paint(max(x1, x2 - t), y) }
            }
        }
        return out
    }
}
