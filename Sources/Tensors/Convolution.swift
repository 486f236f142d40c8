import CDNNL
import DNNL

/// 2-D convolution, as PyTorch's `F.conv2d`: input [N, C, H, W], weight [O, C/groups, kh, kw],
/// optional bias [O]. `dilation` counts as in PyTorch (1 = dense).
///
/// The input, weight and output layouts are left to oneDNN (`format_tag_any`): on AVX2 it picks
/// nChw8c activations, so a chain of convolutions never reorders between layers. Weights are
/// kept plain (PyTorch's layout, what the optimiser and checkpoints use) and reordered to the
/// kernel's layout per call.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil,
                   stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                   dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
    let geometry = try ConvGeometry(input: input.shape, weight: weight.shape, bias: bias?.shape,
                                    stride: stride, padding: padding, dilation: dilation, groups: groups)
    for t in [input, weight] + (bias.map { [$0] } ?? []) { try t.requireFloat32("conv2d") }
    let training = Tensor.recording([input, weight, bias])
    let forward = try geometry.forwardPrimitive(training: training, inputNeedsGradient: training && input.requiresGrad)
    let pd = forward.descriptor
    let src = try input.reordered(to: pd.memory(dnnl_query_src_md)!, op: "conv2d")
    let plainWeight = try weight.contiguous()
    let kernelWeight = try geometry.reorderWeight(plainWeight, to: pd.memory(dnnl_query_weights_md)!)
    let output = Tensor(empty: pd.memory(dnnl_query_dst_md)!)
    var args = [(DNNL_ARG_SRC, try src.memory(op: "conv2d")), (DNNL_ARG_WEIGHTS, try kernelWeight.memory(op: "conv2d")),
                (DNNL_ARG_DST, try output.memory(op: "conv2d"))]
    if let bias { args.append((DNNL_ARG_BIAS, try bias.contiguous().memory(op: "conv2d"))) }
    try forward.execute(args)

    if training {
        let savedSrc = src.detached(), savedWeight = plainWeight.detached()
        let needInput = input.requiresGrad, needWeight = weight.requiresGrad || bias?.requiresGrad == true
        output.record("conv2d", inputs: [input, weight] + (bias.map { [$0] } ?? [])) { gradOutput in
            let dx = needInput ? try geometry.backwardData(gradOutput, weight: savedWeight, hint: pd) : nil
            var grads: [Tensor?] = [dx]
            if needWeight {
                let (dw, db) = try geometry.backwardWeights(gradOutput, source: savedSrc, hint: pd)
                grads += [dw, db]
            }
            return grads
        }
    }
    return output
}

/// Shapes and settings of one convolution, checked once, with the three primitives it needs.
struct ConvGeometry {
    let input: [Int], weight: [Int], output: [Int]
    let hasBias: Bool
    let stride: [Int64], dilation: [Int64], padding: [Int64]
    let groups: Int

    init(input: [Int], weight: [Int], bias: [Int]?, stride: (Int, Int), padding: (Int, Int),
         dilation: (Int, Int), groups: Int) throws {
        let shapes = "input \(input), weight \(weight)" + (bias.map { ", bias \($0)" } ?? "")
        func fail(_ why: String) -> OpError { OpError(op: "conv2d", "\(why) (\(shapes))") }
        guard input.count == 4 else { throw fail("input must be 4-D [N, C, H, W]") }
        guard weight.count == 4 else { throw fail("weight must be 4-D [O, C/groups, kh, kw]") }
        guard groups >= 1, weight[0] % groups == 0 else { throw fail("\(weight[0]) output channels are not divisible by groups=\(groups)") }
        guard input[1] == weight[1] * groups else {
            throw fail("input has \(input[1]) channels but weight expects \(weight[1] * groups) (\(weight[1]) per group x \(groups) groups)")
        }
        if let bias, bias != [weight[0]] { throw fail("bias must be [\(weight[0])]") }
        guard stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0, padding.0 >= 0, padding.1 >= 0 else {
            throw fail("stride \(stride) and dilation \(dilation) must be positive, padding \(padding) non-negative")
        }
        let kernel = [weight[2], weight[3]], size = [input[2], input[3]]
        let s = [stride.0, stride.1], p = [padding.0, padding.1], d = [dilation.0, dilation.1]
        let out: [Int] = (0..<2).map { i in
            slidingWindowCount(size: size[i], kernel: kernel[i], stride: s[i], padding: p[i], dilation: d[i])
        }
        guard out.allSatisfy({ $0 > 0 }) else { throw fail("kernel \(kernel) with dilation \(d) is larger than the padded input") }
        self.input = input
        self.weight = weight
        self.output = [input[0], weight[0]] + out
        hasBias = bias != nil
        self.stride = s.map(Int64.init)
        self.padding = p.map(Int64.init)
        self.dilation = d.map { Int64($0 - 1) }  // oneDNN counts dilation from 0
        self.groups = groups
    }

    /// oneDNN's weight dims: [G, O/G, I/G, kh, kw] when grouped.
    var kernelWeightDims: [Int] {
        groups == 1 ? weight : [groups, weight[0] / groups] + weight[1...]
    }

    var settings: [Int] {
        let geometry: [Int64] = stride + padding + dilation
        return input + weight + geometry.map { Int($0) } + [groups, hasBias ? 1 : 0]
    }

    var shapes: String { "input \(input), weight \(weight), stride \(stride), padding \(padding), groups \(groups)" }

    /// The forward primitive. When a backward-data pass will follow, its activation layouts are
    /// pinned to those the backward-data kernel wants: left free, oneDNN may pick NHWC for the
    /// forward pass (brgconv on AVX-512) and nChw16c for the backward passes, and every layer
    /// would then reorder its activations and gradients on each step. Not pinned where that
    /// would leave only oneDNN's slow reference kernel (a 3-channel stem in a blocked layout),
    /// nor for the first layer, whose input needs no gradient.
    func forwardPrimitive(training: Bool, inputNeedsGradient: Bool) throws -> Primitive {
        let op = training ? (inputNeedsGradient ? "conv2d.forward_training" : "conv2d.forward_training_first") : "conv2d.forward_inference"
        return try Context.shared.cache.primitive(for: PrimitiveKey(op: op, settings: settings)) {
            let free = try forwardDescriptor(training: training, source: .any(input), destination: .any(output))
            guard inputNeedsGradient else { return try Primitive(op: "conv2d", descriptor: free) }
            let backward = try backwardDataDescriptor(hint: free)
            let src = backward.memory(dnnl_query_diff_src_md)!, dst = backward.memory(dnnl_query_diff_dst_md)!
            if free.memory(dnnl_query_src_md) == src && free.memory(dnnl_query_dst_md) == dst {
                return try Primitive(op: "conv2d", descriptor: free)
            }
            let pinned = try forwardDescriptor(training: true, source: src, destination: dst)
            return try Primitive(op: "conv2d", descriptor: pinned.implementation.hasPrefix("ref") ? free : pinned)
        }
    }

    private func forwardDescriptor(training: Bool, source: MemoryDescriptor, destination: MemoryDescriptor) throws -> PrimitiveDescriptor {
        var desc = dnnl_convolution_desc_t()
        var src = source.raw, wei = MemoryDescriptor.any(kernelWeightDims).raw
        var dst = destination.raw, bia = MemoryDescriptor(plain: [weight[0]]).raw
        let prop = training ? dnnl_forward_training : dnnl_forward_inference
        let status = withOptionalPointer(&bia, if: hasBias) {
            dnnl_dilated_convolution_forward_desc_init(&desc, prop, dnnl_convolution_direct, &src, &wei, $0, &dst,
                                                       stride, dilation, padding, padding)
        }
        try check(status, op: "conv2d", shapes)
        return try PrimitiveDescriptor(op: "conv2d", shapes: shapes, desc: &desc)
    }

    private func backwardDataDescriptor(hint: PrimitiveDescriptor) throws -> PrimitiveDescriptor {
        var desc = dnnl_convolution_desc_t()
        var dsrc = MemoryDescriptor.any(input).raw, wei = MemoryDescriptor.any(kernelWeightDims).raw
        var ddst = MemoryDescriptor.any(output).raw
        try check(dnnl_dilated_convolution_backward_data_desc_init(
            &desc, dnnl_convolution_direct, &dsrc, &wei, &ddst, stride, dilation, padding, padding),
            op: "conv2d.backward_data", shapes)
        return try PrimitiveDescriptor(op: "conv2d.backward_data", shapes: shapes, desc: &desc, hint: hint)
    }

    /// Plain [O, C/g, kh, kw] weights in the layout a primitive wants.
    func reorderWeight(_ plain: Tensor, to target: MemoryDescriptor) throws -> Tensor {
        let grouped = Tensor(shape: kernelWeightDims, descriptor: MemoryDescriptor(plain: kernelWeightDims), storage: plain.storage)
        return try grouped.reordered(to: target, op: "conv2d")
    }

    func backwardData(_ gradOutput: Tensor, weight plainWeight: Tensor, hint: PrimitiveDescriptor) throws -> Tensor {
        let key = PrimitiveKey(op: "conv2d.backward_data", settings: settings)
        let primitive = try Context.shared.cache.primitive(for: key) {
            try Primitive(op: "conv2d.backward_data", descriptor: backwardDataDescriptor(hint: hint))
        }
        let pd = primitive.descriptor
        let dy = try gradOutput.reordered(to: pd.memory(dnnl_query_diff_dst_md)!, op: "conv2d.backward_data")
        let w = try reorderWeight(plainWeight, to: pd.memory(dnnl_query_weights_md)!)
        let dx = Tensor(empty: pd.memory(dnnl_query_diff_src_md)!)
        try primitive.execute([(DNNL_ARG_DIFF_DST, try dy.memory(op: "conv2d.backward_data")),
                               (DNNL_ARG_WEIGHTS, try w.memory(op: "conv2d.backward_data")),
                               (DNNL_ARG_DIFF_SRC, try dx.memory(op: "conv2d.backward_data"))])
        return dx
    }

    /// Weight gradient in the plain [O, C/g, kh, kw] layout, and the bias gradient if there is a bias.
    func backwardWeights(_ gradOutput: Tensor, source: Tensor, hint: PrimitiveDescriptor) throws -> (Tensor, Tensor?) {
        let op = "conv2d.backward_weights"
        let key = PrimitiveKey(op: op, settings: settings)
        let primitive = try Context.shared.cache.primitive(for: key) {
            var desc = dnnl_convolution_desc_t()
            var src = MemoryDescriptor.any(input).raw, dwei = MemoryDescriptor.any(kernelWeightDims).raw
            var ddst = MemoryDescriptor.any(output).raw, dbia = MemoryDescriptor(plain: [weight[0]]).raw
            let status = withOptionalPointer(&dbia, if: hasBias) {
                dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &dwei, $0, &ddst,
                                                                    stride, dilation, padding, padding)
            }
            try check(status, op: op, shapes)
            let pd = try PrimitiveDescriptor(op: op, shapes: shapes, desc: &desc, hint: hint)
            return try Primitive(op: op, descriptor: pd)
        }
        let pd = primitive.descriptor
        let dy = try gradOutput.reordered(to: pd.memory(dnnl_query_diff_dst_md)!, op: op)
        let src = try source.reordered(to: pd.memory(dnnl_query_src_md)!, op: op)
        let dw = Tensor(empty: pd.memory(dnnl_query_diff_weights_md)!)
        var args = [(DNNL_ARG_DIFF_DST, try dy.memory(op: op)), (DNNL_ARG_SRC, try src.memory(op: op)),
                    (DNNL_ARG_DIFF_WEIGHTS, try dw.memory(op: op))]
        var db: Tensor?
        if hasBias {
            db = Tensor(empty: MemoryDescriptor(plain: [weight[0]]))
            args.append((DNNL_ARG_DIFF_BIAS, try db!.memory(op: op)))
        }
        try primitive.execute(args)
        let plainGrouped = try dw.reordered(to: MemoryDescriptor(plain: kernelWeightDims), op: op)
        return (plainGrouped.view(as: weight), db)
    }
}

/// `&value` when `condition`, else nil: for C arguments such as an optional bias descriptor.
func withOptionalPointer<T, R>(_ value: inout T, if condition: Bool, _ body: (UnsafePointer<T>?) -> R) -> R {
    condition ? withUnsafePointer(to: &value) { body($0) } : body(nil)
}

/// How many positions a window takes along one axis (PyTorch's floor rule).
func slidingWindowCount(size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int = 1) -> Int {
    let span = dilation * (kernel - 1) + 1
    guard size + 2 * padding >= span else { return 0 }
    return (size + 2 * padding - span) / stride + 1
}
