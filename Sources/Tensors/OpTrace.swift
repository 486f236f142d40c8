/// The ops a forward pass ran, in order, with the tensors each read and wrote: what an exporter
/// (ONNX) turns into another runtime's graph. Off unless the pass runs inside
/// `OpTrace.recording`; the ops below then report themselves, at the cost of one task-local
/// read each when off.
///
/// A node holds its tensors, so no tensor of the pass is freed (and no object identity reused)
/// while the trace lives. Ops that leave their input unchanged (dropout in evaluation, a cast to
/// the type a tensor has) return that same tensor and record nothing.
public final class OpTrace: @unchecked Sendable {
    public enum Op: Equatable, Sendable {
        case conv2d(stride: [Int], padding: [Int], dilation: [Int], groups: Int)
        /// Evaluation mode only: normalises with the running statistics (inputs: x, weight, bias,
        /// running mean, running variance).
        case batchNorm(eps: Float, fusedReLU: Bool)
        case linear
        case relu
        case relu6
        case maxPool2d(kernel: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool)
        case avgPool2d(kernel: [Int], stride: [Int], padding: [Int], ceilMode: Bool, countIncludePad: Bool)
        case globalAvgPool2d
        case add(fusedReLU: Bool)
        case concat(axis: Int)
        /// To `shape` (no -1 left: the shape the pass produced).
        case reshape(shape: [Int])
        /// Bilinear, align_corners=False, to [N, C, size[0], size[1]].
        case upsampleBilinear2d(size: [Int])
    }

    public struct Node {
        public let op: Op
        public let inputs: [Tensor]
        public let output: Tensor
    }

    public private(set) var nodes: [Node] = []

    @TaskLocal static var current: OpTrace?

    /// Whether a trace is being recorded (the exporter wants the ops as the model is written,
    /// not inference's fused ones).
    public static var isRecording: Bool { current != nil }

    /// Runs `body` (a forward pass), recording every op it runs.
    public static func recording<T>(_ body: () throws -> T) throws -> (T, OpTrace) {
        let trace = OpTrace()
        let result = try $current.withValue(trace) { try body() }
        return (result, trace)
    }

    /// Called by the ops. Training-mode ops (batch statistics) are refused: a trace is of
    /// inference, where batch norm is a fixed affine map.
    static func record(_ op: Op, inputs: [Tensor?], output: Tensor) {
        current?.nodes.append(Node(op: op, inputs: inputs.compactMap { $0 }, output: output))
    }

    static var isOn: Bool { current != nil }
}
