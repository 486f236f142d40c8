import ArgumentParser
import Data
import Foundation
import NN
import Tensors
import Train

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Loss, top-1 and top-5 of a checkpoint on a dataset's validation set.")

    @Option(help: "Weights written by `tricks train` (e.g. runs/NAME/best.safetensors).")
    var checkpoint: String

    @OptionGroup var data: DataOptions

    @Option(name: .shortAndLong, help: "Images per batch.")
    var batchSize = 256

    func run() throws {
        let (model, info) = try Checkpoint.loadModel(checkpoint)
        let validation = try data.source.load(minShortSide: info.inputSize).validation
        guard validation.classes.count == info.classes.count else {
            throw CommandError("\(checkpoint) was trained on \(info.classes.count) classes; \(data.description) has \(validation.classes.count)")
        }
        let loader = try DataLoader(dataset: validation, transform: info.evaluationTransform, batchSize: batchSize, shuffle: false)
        let result = try evaluate(model, loader: loader)
        print(String(format: "%@ on %@ (%d images): loss %.4f, top-1 %.2f%%, top-5 %.2f%%",
                     info.model, data.description, result.count, result.loss, result.top1, result.top5))
    }
}

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict", abstract: "Top-5 classes with probabilities for image files.")

    @Option(help: "Weights written by `tricks train`.")
    var checkpoint: String

    @Argument(help: "JPEG or PNG files.")
    var images: [String]

    func run() throws {
        let (model, info) = try Checkpoint.loadModel(checkpoint)
        let transform = info.evaluationTransform
        var rng = SeededGenerator(seed: 0)  // the evaluation transforms draw nothing
        for path in images {
            guard let bytes = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): cannot read file") }
            var image = try ImageCodec.decode(Array(bytes), path: path, channels: info.inputChannels)
            if info.augment == "small", let size = info.inputSize {
                // Any photo down to the size the small-image model was trained at.
                image = try Compose([ResizeShorter(size), CenterCrop(size)])(image, rng: &rng)
            }
            image = try transform(image, rng: &rng)
            var values = [Float](repeating: 0, count: image.pixels.count)
            for y in 0..<image.height { for x in 0..<image.width { for c in 0..<image.channels {
                values[(c * image.height + y) * image.width + x] = image[x, y, c]
            } } }
            let input = try Tensor(shape: [1, image.channels, image.height, image.width], scalars: values)
            let logProbabilities = try GradMode.withoutGradient { try logSoftmax(model(input)) }.scalars
            print(path)
            for index in try topK(Tensor(shape: [1, logProbabilities.count], scalars: logProbabilities), k: min(5, info.classes.count))[0] {
                print(String(format: "  %6.2f%%  %@", 100 * exp(Double(logProbabilities[index])), info.classes[index]))
            }
        }
    }
}
