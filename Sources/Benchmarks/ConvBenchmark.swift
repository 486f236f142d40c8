import CDNNL
import Tensors

/// GFLOP/s of one convolution's three passes, measured two ways side by side: oneDNN's
/// primitives called directly on buffers already in their layouts, and the `conv2d` op with its
/// tape (layout checks, weight reorders, allocation included). The gap is the wrapper's cost.
public struct ConvBenchmark {
    public struct Shape: CustomStringConvertible, Sendable {
        public var batch, inChannels, outChannels, size, kernel: Int
        public init(batch: Int, inChannels: Int, outChannels: Int, size: Int, kernel: Int) {
            (self.batch, self.inChannels, self.outChannels, self.size, self.kernel) = (batch, inChannels, outChannels, size, kernel)
        }
        /// Multiply-adds x 2 of one pass (stride 1, "same" padding).
        public var flops: Double { 2 * Double(batch * outChannels * size * size * inChannels * kernel * kernel) }
        public var description: String { "N\(batch) \(inChannels)->\(outChannels) \(size)x\(size) \(kernel)x\(kernel)" }
    }

    public struct Row: Sendable {
        public var shape: Shape
        public var pass: String
        public var directGFLOPs: Double
        public var wrapperGFLOPs: Double
    }

    /// The shapes the engine issue names.
    /// (Input and output channels are equal, so that a conv's output can feed the same conv.)
    public static let standardShapes = [
        Shape(batch: 64, inChannels: 64, outChannels: 64, size: 32, kernel: 3),
        Shape(batch: 32, inChannels: 256, outChannels: 256, size: 14, kernel: 3),
    ]

    public var rounds: Int
    /// Activations and weights in this type (bfloat16: oneDNN's 16-bit kernels, the op under
    /// `Autocast`); weight gradients Float32, as in training.
    public var dataType: DataType
    public init(rounds: Int = 10, dataType: DataType = .float32) { (self.rounds, self.dataType) = (rounds, dataType) }

    public func run(_ shape: Shape) throws -> [Row] {
        let direct = try DirectConvolution(shape, dataType: dataType)
        let passes = ["forward", "backward data", "backward weights"]
        var rows: [Row] = []
        for (index, pass) in passes.enumerated() {
            let directSeconds = try median { try direct.run(pass: index) }
            let wrapperSeconds = try Autocast.with(dataType) { try wrapperTime(shape, pass: index) }
            rows.append(Row(shape: shape, pass: pass, directGFLOPs: shape.flops / directSeconds / 1e9,
                            wrapperGFLOPs: shape.flops / wrapperSeconds / 1e9))
        }
        return rows
    }

    /// Median seconds of `rounds` calls after two warm-up calls.
    func median(_ body: () throws -> Void) throws -> Double {
        try RoundTimes(rounds: rounds, warmUp: 2, body).median
    }

    func wrapperTime(_ shape: Shape, pass: Int) throws -> Double {
        var generator = SeededGenerator(seed: 1)
        let x = try Tensor.randn([shape.batch, shape.inChannels, shape.size, shape.size], using: &generator)
        let w = try Tensor.randn([shape.outChannels, shape.inChannels, shape.kernel, shape.kernel], std: 0.05, using: &generator)
        let pad = (shape.kernel / 2, shape.kernel / 2)
        // Feed the input in the layout the previous layer of a network would leave it in: the
        // output of the same convolution (these shapes keep the channel count), in inference
        // mode for the forward pass and in training mode for the backward passes.
        if pass == 0 {
            let input = try GradMode.withoutGradient { try conv2d(x, weight: w, padding: pad) }
            return try median { _ = try GradMode.withoutGradient { try conv2d(input, weight: w, padding: pad) } }
        }
        w.requiresGrad = true
        let input = try conv2d(x, weight: w, padding: pad).detached()
        input.requiresGrad = pass == 1
        w.requiresGrad = pass == 2
        let gradient = try GradMode.withoutGradient { try conv2d(input, weight: w, padding: pad) }.detached()
        var times: [Double] = []
        for round in 0..<(rounds + 2) {
            let y = try conv2d(input, weight: w, padding: pad)
            let start = ContinuousClock.now
            try y.backward(gradient: gradient)
            if round >= 2 { times.append((ContinuousClock.now - start).seconds) }
            input.grad = nil
            w.grad = nil
        }
        return times.sorted()[times.count / 2]
    }
}


/// The three convolution primitives with every buffer allocated in the layout its primitive
/// chose: only `dnnl_primitive_execute` is timed.
final class DirectConvolution {
    var primitives: [Primitive] = []
    var arguments: [[(Int32, Memory)]] = []
    var buffers: [UnsafeMutableRawPointer] = []

    init(_ shape: ConvBenchmark.Shape, dataType: DataType = .float32) throws {
        let src = [shape.batch, shape.inChannels, shape.size, shape.size]
        let wei = [shape.outChannels, shape.inChannels, shape.kernel, shape.kernel]
        let dst = [shape.batch, shape.outChannels, shape.size, shape.size]
        let strides: [Int64] = [1, 1], dilation: [Int64] = [0, 0], pad = [Int64](repeating: Int64(shape.kernel / 2), count: 2)
        var srcMD = MemoryDescriptor.any(src, dataType: dataType).raw, weiMD = MemoryDescriptor.any(wei, dataType: dataType).raw
        var dstMD = MemoryDescriptor.any(dst, dataType: dataType).raw, dweiMD = MemoryDescriptor.any(wei).raw
        let name = "bench \(shape)"

        var fwd = dnnl_convolution_desc_t()
        try check(dnnl_dilated_convolution_forward_desc_init(&fwd, dnnl_forward_training, dnnl_convolution_direct, &srcMD, &weiMD, nil,
                                                             &dstMD, strides, dilation, pad, pad), op: "conv", name)
        let fpd = try PrimitiveDescriptor(op: "conv", shapes: name, desc: &fwd)
        var bwdData = dnnl_convolution_desc_t()
        try check(dnnl_dilated_convolution_backward_data_desc_init(&bwdData, dnnl_convolution_direct, &srcMD, &weiMD, &dstMD,
                                                                   strides, dilation, pad, pad), op: "conv", name)
        let dpd = try PrimitiveDescriptor(op: "conv", shapes: name, desc: &bwdData, hint: fpd)
        var bwdWeights = dnnl_convolution_desc_t()
        try check(dnnl_dilated_convolution_backward_weights_desc_init(&bwdWeights, dnnl_convolution_direct, &srcMD, &dweiMD, nil, &dstMD,
                                                                      strides, dilation, pad, pad), op: "conv", name)
        let wpd = try PrimitiveDescriptor(op: "conv", shapes: name, desc: &bwdWeights, hint: fpd)

        func buffer(_ pd: PrimitiveDescriptor, _ query: dnnl_query_t) throws -> Memory {
            let md = pd.memory(query)!
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: md.byteCount, alignment: 64)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: md.byteCount)
            buffers.append(pointer)
            return try Memory(md, pointer: pointer, op: "bench")
        }
        primitives = [try Primitive(op: "conv", descriptor: fpd), try Primitive(op: "conv", descriptor: dpd),
                      try Primitive(op: "conv", descriptor: wpd)]
        arguments = [
            [(DNNL_ARG_SRC, try buffer(fpd, dnnl_query_src_md)), (DNNL_ARG_WEIGHTS, try buffer(fpd, dnnl_query_weights_md)),
             (DNNL_ARG_DST, try buffer(fpd, dnnl_query_dst_md))],
            [(DNNL_ARG_DIFF_DST, try buffer(dpd, dnnl_query_diff_dst_md)), (DNNL_ARG_WEIGHTS, try buffer(dpd, dnnl_query_weights_md)),
             (DNNL_ARG_DIFF_SRC, try buffer(dpd, dnnl_query_diff_src_md))],
            [(DNNL_ARG_DIFF_DST, try buffer(wpd, dnnl_query_diff_dst_md)), (DNNL_ARG_SRC, try buffer(wpd, dnnl_query_src_md)),
             (DNNL_ARG_DIFF_WEIGHTS, try buffer(wpd, dnnl_query_diff_weights_md))],
        ]
    }

    func run(pass: Int) throws { try primitives[pass].execute(arguments[pass]) }

    deinit { buffers.forEach { $0.deallocate() } }
}

