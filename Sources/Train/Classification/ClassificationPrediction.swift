import Data
import Foundation
import NN
import Tensors

extension ClassificationTask {
    /// The log-probabilities of one image file's classes: read, decoded and prepared as the
    /// model was validated (what `tricks predict` prints and `bench infer --image` times).
    public static func predict(_ model: Module, info: ModelInfo, path: String, precision: DataType) throws -> [Float] {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot read the file") }
        var rng = SeededGenerator(seed: 0)  // the evaluation transforms draw nothing
        var image = try ImageCodec.decode(Array(bytes), path: path, channels: info.inputChannels)
        if info.augment == "small", let size = info.inputSize {
            // Any photo down to the size the small-image model was trained at.
            image = try Compose([ResizeShorter(size), CenterCrop(size)])(image, rng: &rng)
        }
        image = try info.evaluationTransform(image, rng: &rng)
        let input = try nchwTensor([image]).to(model.namedParameters().first?.1.device ?? .cpu)
        return try GradMode.withoutGradient {
            try logSoftmax(Autocast.with(precision) { try model(input) }.converted(to: .float32))
        }.scalars
    }
}
