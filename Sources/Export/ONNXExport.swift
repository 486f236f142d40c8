import Foundation
import NN
import SwiftProtobuf
import Tensors

/// A model as an ONNX graph, as `torch.onnx.export` writes one: traced from one forward pass in
/// evaluation mode (`OpTrace`), input "input" [batch, C, H, W] with a dynamic batch, output
/// "logits" [batch, classes]; the parameters and BatchNorm running statistics are initializers
/// under their state-dict names. Preprocessing (mean/std) is not in the graph, as in
/// torchvision's exports; it goes into the model's metadata.
public enum ONNXExport {
    /// Opset 17 (onnxruntime 1.13 and later, PyTorch's default for years): every op used here is
    /// in it with the semantics PyTorch's own exporter relies on.
    public static let opset: Int64 = 17
    /// The IR version that opset 17 came with.
    public static let irVersion: Int64 = 8

    /// Runs `model` in evaluation mode on `sample` and returns its ONNX form and the output it
    /// computed (to check another runtime against). The model is left in evaluation mode.
    public static func export(_ model: Module, sample: Tensor, name: String, metadata: [(String, String)] = [],
                              producerVersion: String = "") throws -> (model: Onnx_ModelProto, output: Tensor) {
        let (proto, output, _) = try exportTracingValues(model, sample: sample, name: name, metadata: metadata, producerVersion: producerVersion)
        return (proto, output)
    }

    /// `export`, and what the model computed for every value the graph names (for tests that
    /// run the graph node by node).
    package static func exportTracingValues(_ model: Module, sample: Tensor, name: String, metadata: [(String, String)] = [],
                                            producerVersion: String = "") throws -> (Onnx_ModelProto, Tensor, [String: Tensor]) {
        guard sample.rank == 4 else { throw ExportError("the sample input must be [N, C, H, W], got \(sample.shape)") }
        model.eval()
        let (output, trace) = try GradMode.withoutGradient { try OpTrace.recording { try model(sample) } }
        var graph = GraphBuilder(model: model, input: sample)
        for node in trace.nodes { try graph.add(node, isOutput: node.output === output) }
        guard graph.names[ObjectIdentifier(output)] == "logits" else {
            throw ExportError("the model's output was not computed by an op the exporter knows (output \(output.shape))")
        }

        var proto = Onnx_ModelProto()
        proto.irVersion = irVersion
        proto.producerName = "BagOfTricks"
        proto.producerVersion = producerVersion
        proto.opsetImport = [Onnx_OperatorSetIdProto.with { $0.domain = ""; $0.version = opset }]
        proto.metadataProps = metadata.map { key, value in Onnx_StringStringEntryProto.with { $0.key = key; $0.value = value } }
        proto.graph = Onnx_GraphProto.with {
            $0.name = name
            $0.node = graph.nodes
            $0.initializer = graph.initializers
            $0.input = [valueInfo("input", shape: sample.shape)]
            $0.output = [valueInfo("logits", shape: output.shape)]
        }
        return (proto, output, graph.traced)
    }

    /// A float tensor's name and shape, its first dimension the symbolic "batch".
    static func valueInfo(_ name: String, shape: [Int]) -> Onnx_ValueInfoProto {
        Onnx_ValueInfoProto.with {
            $0.name = name
            $0.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            $0.type.tensorType.shape.dim = shape.enumerated().map { i, size in
                Onnx_TensorShapeProto.Dimension.with { $0.value = i == 0 ? .dimParam("batch") : .dimValue(Int64(size)) }
            }
        }
    }
}

public struct ExportError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "export: " + description }
}

/// Turns traced ops into ONNX nodes, naming each value and adding an initializer for each
/// parameter or constant the first time a node reads it.
struct GraphBuilder {
    var names: [ObjectIdentifier: String] = [:]
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    /// The tensor the model computed for each node's output, by the output's name.
    var traced: [String: Tensor] = [:]
    private var parameters: [ObjectIdentifier: (String, Tensor)] = [:]
    private var counts: [String: Int] = [:]
    private var constants: Set<String> = []

    init(model: Module, input: Tensor) {
        for (name, tensor) in model.namedParameters() + model.namedBuffers() { parameters[ObjectIdentifier(tensor)] = (name, tensor) }
        names[ObjectIdentifier(input)] = "input"
    }

    mutating func add(_ node: OpTrace.Node, isOutput: Bool) throws {
        let inputs = try node.inputs.map { try value($0, readBy: node) }
        let (x, result) = (inputs[0], isOutput ? "logits" : fresh(kind(node.op)))
        switch node.op {
        case let .conv2d(stride, padding, dilation, groups):
            let weight = node.inputs[1].shape
            emit("Conv", inputs, result, [ints("kernel_shape", Array(weight[2...])), ints("strides", stride),
                                          ints("pads", padding + padding), ints("dilations", dilation), int("group", groups)])
        case let .batchNorm(eps, fusedReLU):
            let normalised = fusedReLU ? result + ".pre_relu" : result
            emit("BatchNormalization", inputs, normalised, [float("epsilon", eps)])
            if fusedReLU { emit("Relu", [normalised], result) }
        case .linear:
            emit("Gemm", inputs, result, [int("transB", 1)])
        case .relu:
            emit("Relu", [x], result)
        case .relu6:
            emit("Clip", [x, constant("relu6.min", [0]), constant("relu6.max", [6])], result)
        case let .maxPool2d(kernel, stride, padding, dilation, ceilMode):
            emit("MaxPool", [x], result, [ints("kernel_shape", kernel), ints("strides", stride), ints("pads", padding + padding),
                                          ints("dilations", dilation), int("ceil_mode", ceilMode ? 1 : 0)])
        case let .avgPool2d(kernel, stride, padding, ceilMode, countIncludePad):
            emit("AveragePool", [x], result, [ints("kernel_shape", kernel), ints("strides", stride), ints("pads", padding + padding),
                                              int("ceil_mode", ceilMode ? 1 : 0), int("count_include_pad", countIncludePad ? 1 : 0)])
        case .globalAvgPool2d:
            emit("GlobalAveragePool", [x], result)
        case let .add(fusedReLU):
            let sum = fusedReLU ? result + ".pre_relu" : result
            emit("Add", inputs, sum)
            if fusedReLU { emit("Relu", [sum], result) }
        case let .concat(axis):
            emit("Concat", inputs, result, [int("axis", axis)])
        case let .upsampleBilinear2d(size):
            // ONNX's Resize with PyTorch's pixel centres; its output sizes include the batch,
            // taken from the input's shape so that any batch works.
            let batchAndChannels = result + ".batch_channels"
            emit("Shape", [x], result + ".shape")
            emit("Slice", [result + ".shape", int64Constant(result + ".starts", [0]), int64Constant(result + ".ends", [2])], batchAndChannels)
            emit("Concat", [batchAndChannels, int64Constant(result + ".size", size.map(Int64.init))], result + ".sizes", [int("axis", 0)])
            emit("Resize", [x, "", "", result + ".sizes"], result, [string("mode", "linear"),
                                                                    string("coordinate_transformation_mode", "pytorch_half_pixel")])
        case let .reshape(shape):
            // The batch dimension carried over (0: "as the input's"), so that the graph takes any batch.
            var target = shape.map(Int64.init)
            if shape.first == node.inputs[0].shape.first { target[0] = 0 }
            emit("Reshape", [x, int64Constant(result + ".shape", target)], result)
        }
        names[ObjectIdentifier(node.output)] = result
        traced[result] = node.output
    }

    private func kind(_ op: OpTrace.Op) -> String {
        switch op {
        case .conv2d: "conv"
        case .batchNorm: "batch_norm"
        case .linear: "linear"
        case .relu: "relu"
        case .relu6: "relu6"
        case .maxPool2d: "max_pool"
        case .avgPool2d: "avg_pool"
        case .globalAvgPool2d: "global_avg_pool"
        case .add: "add"
        case .concat: "concat"
        case .reshape: "reshape"
        case .upsampleBilinear2d: "upsample"
        }
    }

    /// conv_1, conv_2, ...: the op kind and its count, as names of values and nodes.
    private mutating func fresh(_ kind: String) -> String {
        counts[kind, default: 0] += 1
        return "\(kind)_\(counts[kind]!)"
    }

    /// The name of a value a node reads: the graph input, an earlier node's output, or a
    /// parameter (added as an initializer when first read).
    private mutating func value(_ tensor: Tensor, readBy node: OpTrace.Node) throws -> String {
        if let name = names[ObjectIdentifier(tensor)] { return name }
        guard let (name, parameter) = parameters[ObjectIdentifier(tensor)] else {
            throw ExportError("\(node.op) reads a tensor \(tensor.shape) that is neither a parameter nor the output of a traced op: "
                              + "the model computes something the exporter does not know")
        }
        initializers.append(floatTensor(name, shape: parameter.shape, values: try parameter.scalars))
        names[ObjectIdentifier(tensor)] = name
        return name
    }

    private mutating func emit(_ opType: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []) {
        nodes.append(Onnx_NodeProto.with {
            $0.opType = opType
            $0.name = output
            $0.input = inputs
            $0.output = [output]
            $0.attribute = attributes
        })
    }

    /// A float scalar constant, added once however many nodes read it.
    private mutating func constant(_ name: String, _ values: [Float]) -> String {
        if constants.insert(name).inserted { initializers.append(floatTensor(name, shape: [], values: values)) }
        return name
    }

    private mutating func int64Constant(_ name: String, _ values: [Int64]) -> String {
        initializers.append(Onnx_TensorProto.with {
            $0.name = name
            $0.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            $0.dims = [Int64(values.count)]
            $0.rawData = values.withUnsafeBytes { Data($0) }  // little-endian, as ONNX's raw_data (x86-64, AArch64)
        })
        return name
    }

    private func floatTensor(_ name: String, shape: [Int], values: [Float]) -> Onnx_TensorProto {
        Onnx_TensorProto.with {
            $0.name = name
            $0.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            $0.dims = shape.map(Int64.init)
            $0.rawData = values.withUnsafeBytes { Data($0) }
        }
    }

    private func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .int; $0.i = Int64(value) }
    }

    private func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .ints; $0.ints = values.map(Int64.init) }
    }

    private func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .string; $0.s = Data(value.utf8) }
    }

    private func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .float; $0.f = value }
    }
}
