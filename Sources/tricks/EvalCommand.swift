import ArgumentParser
import Data
import Foundation
import NN
import Tensors
import Train

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Loss, top-1 and top-5 of a checkpoint on a dataset: its validation set, or every image of a plain folder of class folders.")

    @Option(help: "Weights written by `tricks train` (e.g. runs/NAME/best.safetensors), or a state dict with --model.")
    var checkpoint: String

    @OptionGroup var foreign: ForeignWeightsOptions

    @OptionGroup var placement: DeviceOption

    @OptionGroup var data: DataOptions

    @Option(name: .shortAndLong, help: "Images per batch.")
    var batchSize = 256

    func run() throws {
        let target = try placement.resolve()
        let (model, info) = try Device.with(target) { try Checkpoint.loadModel(checkpoint, model: foreign.model, classes: foreign.classNames()) }
        // Without --data, the data the checkpoint was trained on; image folders read with as many
        // channels as the model takes (grey or RGB), unless --channels says otherwise.
        let recorded = data.data == nil ? Checkpoint.recordedData(checkpoint) : nil
        var source = recorded ?? data.source
        if data.channels == nil { source.channels = info.inputChannels }
        let (validation, whole) = try source.evaluationImages(minShortSide: info.inputSize)
        guard validation.classes.count == info.classes.count else {
            throw CommandError("\(checkpoint) was trained on \(info.classes.count) classes; \(source.path) has \(validation.classes.count)"
                               + (data.data == nil ? " (give --data with images of its classes)" : ""))
        }
        guard validation.channels == info.inputChannels else {
            throw CommandError("\(checkpoint) takes \(info.inputChannels)-channel images; \(source.path) has \(validation.channels)-channel ones"
                               + " (an image folder is read with --channels \(info.inputChannels); other formats have the channels they have)")
        }
        let loader = try DataLoader(dataset: validation, transform: info.evaluationTransform, batchSize: batchSize, shuffle: false)
        let precision = try placement.resolvedPrecision(on: target)
        let result = try evaluate(model, loader: loader, precision: precision)
        if whole { print("\(source.path) has no validation split (val/ or test/ inside): scoring every image in it") }
        print(String(format: "%@ on %@ (%d images)%@: loss %.4f, top-1 %.2f%%, top-5 %.2f%%",
                     info.model, source.validationPath ?? source.path, result.count, precision == .float32 ? "" : " in \(precision.flagName)", result.loss, result.top1, result.top5))
        if precision != .float32 {
            // What bf16 changes: FP32's numbers on the same images, and how often the top-1 class is the same.
            let reference = try evaluate(model, loader: loader)
            let same = zip(result.predictions, reference.predictions).filter { $0 == $1 }.count
            print(String(format: "in fp32: loss %.4f, top-1 %.2f%%, top-5 %.2f%%; the same top-1 class for %d of %d images (%.2f%%)",
                         reference.loss, reference.top1, reference.top5, same, result.count, 100 * Double(same) / Double(max(1, result.count))))
        }
    }
}
