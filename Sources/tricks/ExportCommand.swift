import ArgumentParser
import Export
import Foundation
import Models
import NN
import Tensors
import Train

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's model as ONNX (opset \(ONNXExport.opset)), for onnxruntime, TensorRT, OpenVINO and the like.",
        discussion: """
            The graph takes "input" [batch, C, H, W], any batch, normalised as in training: (pixel - mean) / std per \
            channel, pixels in [0, 255]. It returns "logits" [batch, classes] (a segmentation model's: \
            [batch, classes, H, W]). The mean, std, class names and input size \
            are in the file's metadata (metadata_props). The graph is traced from one forward pass in evaluation mode \
            (BatchNorm with its running statistics, no dropout). --sample writes an input batch and this model's logits \
            on it, to check another runtime against (scripts/check_onnx_export.py does, with onnxruntime).
            """)

    @Option(help: "Weights written by `tricks train`, or a state dict with --model.")
    var checkpoint: String

    @OptionGroup var foreign: ForeignWeightsOptions

    @Option(help: "Where to write the ONNX model.")
    var onnx: String

    @Option(help: "Input height and width the graph is traced at (default: the checkpoint's input size).")
    var inputSize: Int?

    @Option(help: "Also write a random input batch (\"input\") and this model's output on it (\"logits\") to this safetensors file.")
    var sample: String?

    @Option(help: "Images in the --sample batch.")
    var sampleBatch = 2

    func run() throws {
        guard sampleBatch >= 1 else { throw CommandError("--sample-batch must be at least 1, got \(sampleBatch)") }
        if let inputSize, inputSize < 1 { throw CommandError("--input-size must be positive, got \(inputSize)") }
        let (model, info) = try Checkpoint.loadModel(checkpoint, model: foreign.model, classes: foreign.classNames(), segmentation: true)
        let side = inputSize ?? info.inputSize ?? ModelZoo.defaultInputSize(info.model)
        let shape = [sampleBatch, info.inputChannels, side, side]
        var generator = SeededGenerator(seed: 0)
        let input = try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -2...2, using: &generator) })
        let metadata: [(String, String)] = [
            ("model", info.model), ("classes", json(info.classes)), ("mean", json(info.mean)), ("std", json(info.std)),
            ("input_size", "\(side)"), ("normalization", "(pixel - mean) / std per channel, pixels in [0, 255]"),
        ]
        let exported: (model: Onnx_ModelProto, output: Tensor)
        do {
            exported = try ONNXExport.export(model, sample: input, name: info.model, metadata: metadata,
                                             producerVersion: Tricks.versionNumber)
        } catch let error as OpError {
            throw CommandError("\(checkpoint) (\(info.model)) does not run at input \(shape): \(error); choose another --input-size")
        }
        try AtomicFile.write(Array(try exported.model.serializedBytes() as [UInt8]), to: onnx)
        let outputShape = (["batch"] + exported.output.shape.dropFirst().map(String.init)).joined(separator: ", ")
        print("wrote \(onnx): \(info.model), input [batch, \(info.inputChannels), \(side), \(side)], output [\(outputShape)], "
              + "\(exported.model.graph.node.count) nodes, opset \(ONNXExport.opset)")
        if let sample {
            try SafeTensors.write([("input", .init(floats: try input.scalars, shape: input.shape)),
                                   ("logits", .init(floats: try exported.output.scalars, shape: exported.output.shape))],
                                  metadata: ["model": info.model, "onnx": onnx], to: sample)
            print("wrote \(sample): a batch of \(sampleBatch) and its logits")
        }
    }

    private func json<T: Encodable>(_ value: T) -> String {
        (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
