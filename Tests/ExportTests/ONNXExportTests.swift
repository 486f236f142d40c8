import Export
import Foundation
import Models
import NN
import SwiftProtobuf
import Tensors
import XCTest

/// The exported graph's wiring: every zoo family exported, written, read back and run node by
/// node by a small ONNX interpreter (below, on our ops) must give the model's own output, and
/// carry every parameter under its state-dict name. (That the ops mean in onnxruntime what they
/// mean here is checked by scripts/check_onnx_export.py, part of `make test`.)
final class ONNXExportTests: XCTestCase {
    func testExportedGraphComputesTheModelsOutput() throws {
        for (name, side, channels) in [("lenet5", 28, 1), ("cifar_resnet20d", 32, 3), ("resnet18c", 48, 3), ("resnet50d", 48, 3),
                                       ("mobilenetv1_100", 48, 3), ("inception_v3", 75, 3), ("fcn_resnet18d", 44, 3)] {
            let model = try ModelZoo.make(name, classes: 7, inputChannels: channels, auxiliaryHead: name.hasPrefix("fcn_"))
            try randomize(model, input: [4, channels, side, side])
            let input = try randomTensor([2, channels, side, side], seed: 3)
            let (exported, output, traced) = try ONNXExport.exportTracingValues(model, sample: input, name: name)
            let proto = try Onnx_ModelProto(serializedBytes: try exported.serializedBytes() as [UInt8])

            XCTAssertEqual(proto.opsetImport.first?.version, ONNXExport.opset, name)
            XCTAssertEqual(proto.graph.input.first?.type.tensorType.shape.dim.first?.value, .dimParam("batch"), name)
            XCTAssertEqual(proto.graph.output.map(\.name), ["logits"], name)
            let stateNames = Set((model.namedParameters() + model.namedBuffers()).map(\.0))
            let initialised = Set(proto.graph.initializer.map(\.name))
            // The auxiliary heads run only in training: the one part of the state not in the graph.
            func auxiliary(_ key: String) -> Bool { key.hasPrefix("AuxLogits.") || key.hasPrefix("aux_classifier.") }
            XCTAssertEqual(stateNames.subtracting(initialised).filter { !auxiliary($0) }, [], "\(name): state not in the graph")
            let convolutions = model.namedModules().filter { $0.1 is Conv2d && !auxiliary($0.0) }.count
            XCTAssertEqual(proto.graph.node.filter { $0.opType == "Conv" }.count, convolutions, name)

            // Every node's output against what the model computed there (a deep random net's logits
            // depend little on its first layers, so the logits alone would miss a miswired one).
            let values = try ONNXInterpreter(proto.graph).run(input)
            for node in proto.graph.node {
                let value = node.output[0]
                guard let expected = traced[value] else { continue }  // the first half of a fused BatchNorm/Add + ReLU
                let (a, b) = (try values[value]!.scalars, try expected.scalars)
                XCTAssertEqual(values[value]!.shape, expected.shape, "\(name): \(value)")
                let worst = zip(a, b).map { abs($0 - $1) }.max()! / max(1e-6, b.map(abs).max()!)
                if worst > 1e-5 {  // the first node that differs; those after it follow
                    XCTFail("\(name): the graph's \(node.opType) \(value) computes something else than the model did (\(worst))")
                    break
                }
            }
            XCTAssertTrue(traced["logits"] === output, name)
        }
    }

    func testAnOpTheExporterDoesNotKnowIsNamed() throws {
        final class Squares: Module {
            override func forward(_ x: Tensor) throws -> Tensor { try relu(multiply(x, x)) }
        }
        XCTAssertThrowsError(try ONNXExport.export(Squares(), sample: try randomTensor([1, 1, 4, 4], seed: 1), name: "squares")) { error in
            XCTAssertTrue("\(error)".contains("neither a parameter nor the output of a traced op"), "\(error)")
        }
    }

    func testTracingRefusesTrainingModeBatchNorm() throws {
        let x = try randomTensor([2, 3, 4, 4], seed: 2)
        let (w, b, m, v) = (try ones(3), try zeros(3), try zeros(3), try ones(3))
        XCTAssertThrowsError(try OpTrace.recording { try batchNorm(x, weight: w, bias: b, runningMean: m, runningVar: v, training: true) }) { error in
            XCTAssertTrue("\(error)".contains("evaluation mode"), "\(error)")
        }
        XCTAssertEqual(try m.scalars, [0, 0, 0], "the refused op must not have updated the running statistics")
    }

    /// He-initialised weights, BatchNorm's scale and shift away from 1 and 0, and running
    /// statistics from a few batches (so that each image still gets its own logits through a
    /// deep net): a zero classifier or BatchNorm's initial identity would hide a miswired node.
    private func randomize(_ model: Module, input shape: [Int]) throws {
        try model.initialize(.kaimingNormal, seed: 5)  // keeps activations' scale through depth, as Xavier does not with ReLU6
        var generator = SeededGenerator(seed: 11)
        for (name, parameter) in model.namedParameters() where parameter.rank == 1 {
            let isScale = name.hasSuffix("weight")
            try parameter.assign((0..<parameter.count).map { _ in isScale ? Float.random(in: 0.5...1.5, using: &generator)
                                                                           : Float.random(in: -0.2...0.2, using: &generator) })
        }
        model.train()
        try GradMode.withoutGradient {
            for step in 0..<30 { _ = try model(randomTensor(shape, seed: 100 + UInt64(step))) }
        }
        model.eval()
    }

    private func randomTensor(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &generator) })
    }

    private func ones(_ n: Int) throws -> Tensor { try Tensor(shape: [n], scalars: Array(repeating: 1, count: n)) }
    private func zeros(_ n: Int) throws -> Tensor { try Tensor(shape: [n], scalars: Array(repeating: 0, count: n)) }
}

/// Runs the ops an ONNX graph of ours uses, by name and attribute, on our own ops: enough to
/// show that the nodes, their inputs and their attributes say what the model computed.
struct ONNXInterpreter {
    let graph: Onnx_GraphProto
    init(_ graph: Onnx_GraphProto) { self.graph = graph }

    /// Every value the graph computes, by name.
    func run(_ input: Tensor) throws -> [String: Tensor] {
        var values: [String: Tensor] = [graph.input[0].name: input]
        var int64s: [String: [Int]] = [:]
        for t in graph.initializer {
            let shape = t.dims.map { Int($0) }
            if t.dataType == Int32(Onnx_TensorProto.DataType.int64.rawValue) {
                int64s[t.name] = t.rawData.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }.map { Int($0) }
            } else {
                values[t.name] = try Tensor(shape: shape, scalars: t.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            }
        }
        for node in graph.node {
            func attribute(_ name: String) -> Onnx_AttributeProto? { node.attribute.first { $0.name == name } }
            func pair(_ name: String, _ fallback: Int) -> (Int, Int) {
                let v = attribute(name)?.ints.map { Int($0) } ?? [fallback, fallback]
                return (v[0], v[1])
            }
            func int(_ name: String, _ fallback: Int) -> Int { attribute(name).map { Int($0.i) } ?? fallback }
            let x = try node.input.map { name -> Tensor? in
                if int64s[name] != nil || name.isEmpty { return nil }
                guard let t = values[name] else { throw ExportTestError("\(node.name) reads \(name), which nothing wrote") }
                return t
            }
            // The shape arithmetic of a dynamic batch: int64 lists.
            switch node.opType {
            case "Shape":
                int64s[node.output[0]] = x[0]!.shape
                continue
            case "Slice":
                let (list, start, end) = (int64s[node.input[0]]!, int64s[node.input[1]]![0], int64s[node.input[2]]![0])
                int64s[node.output[0]] = Array(list[start..<min(end, list.count)])
                continue
            case "Concat" where int64s[node.input[0]] != nil:
                int64s[node.output[0]] = node.input.flatMap { int64s[$0]! }
                continue
            default: break
            }
            let y: Tensor
            switch node.opType {
            case "Conv":
                let pads = attribute("pads")!.ints.map { Int($0) }
                XCTAssertEqual(Array(pads[..<2]), Array(pads[2...]), "symmetric padding")
                y = try conv2d(x[0]!, weight: x[1]!, bias: x.count > 2 ? x[2] : nil, stride: pair("strides", 1),
                               padding: (pads[0], pads[1]), dilation: pair("dilations", 1), groups: int("group", 1))
            case "BatchNormalization":
                y = try batchNorm(x[0]!, weight: x[1]!, bias: x[2]!, runningMean: x[3]!, runningVar: x[4]!, training: false,
                                  eps: attribute("epsilon")!.f)
            case "Gemm":
                XCTAssertEqual(int("transB", 0), 1)
                y = try linear(x[0]!, weight: x[1]!, bias: x[2])
            case "Relu": y = try relu(x[0]!)
            case "Clip":
                XCTAssertEqual(try x[1]!.scalars + x[2]!.scalars, [0, 6], "Clip is only ReLU6 here")
                y = try relu6(x[0]!)
            case "MaxPool":
                y = try maxPool2d(x[0]!, kernel: pair("kernel_shape", 1), stride: pair("strides", 1), padding: pair("pads", 0),
                                  dilation: pair("dilations", 1), ceilMode: int("ceil_mode", 0) == 1)
            case "AveragePool":
                y = try avgPool2d(x[0]!, kernel: pair("kernel_shape", 1), stride: pair("strides", 1), padding: pair("pads", 0),
                                  ceilMode: int("ceil_mode", 0) == 1, countIncludePad: int("count_include_pad", 0) == 1)
            case "GlobalAveragePool": y = try globalAvgPool2d(x[0]!)
            case "Add": y = try add(x[0]!, x[1]!)
            case "Concat": y = try concat(x.map { $0! }, axis: int("axis", 0))
            case "Resize":
                XCTAssertEqual(attribute("mode").map { String(decoding: $0.s, as: UTF8.self) }, "linear")
                XCTAssertEqual(attribute("coordinate_transformation_mode").map { String(decoding: $0.s, as: UTF8.self) }, "pytorch_half_pixel")
                let sizes = int64s[node.input[3]]!
                XCTAssertEqual(Array(sizes[..<2]), Array(x[0]!.shape[..<2]))
                y = try upsampleBilinear2d(x[0]!, size: (sizes[2], sizes[3]))
            case "Reshape":
                let shape = int64s[node.input[1]]!
                y = try reshape(x[0]!, shape.enumerated().map { $0.offset == 0 && $0.element == 0 ? x[0]!.shape[0] : $0.element })
            default: throw ExportTestError("unexpected op \(node.opType) (\(node.name))")
            }
            values[node.output[0]] = y
        }
        guard values[graph.output[0].name] != nil else { throw ExportTestError("nothing wrote the graph's output") }
        return values
    }
}

struct ExportTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
