import CDNNL

extension OneDNNBackend {
    /// The input, weight and output layouts are left to oneDNN (`format_tag_any`): on AVX2 it
    /// picks nChw8c activations, so a chain of convolutions never reorders between layers.
    /// Weights are kept plain and reordered to the kernel's layout per call.
    package func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, geometry: ConvGeometry,
                        recording: Bool) throws -> (Tensor, Pullback?) {
        let training = recording
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

        guard training else { return (output, nil) }
        let savedSrc = src.detached(), savedWeight = plainWeight.detached()
        let needInput = input.requiresGrad, needWeight = weight.requiresGrad || bias?.requiresGrad == true
        return (output, { gradOutput in
            let dx = needInput ? try geometry.backwardData(gradOutput, weight: savedWeight, hint: pd) : nil
            var grads: [Tensor?] = [dx]
            if needWeight {
                let (dw, db) = try geometry.backwardWeights(gradOutput, source: savedSrc, hint: pd)
                grads += [dw, db]
            }
            return grads
        })
    }
}

/// The three oneDNN primitives of one convolution.
extension ConvGeometry {
    /// oneDNN's weight dims: [G, O/G, I/G, kh, kw] when grouped.
    var kernelWeightDims: [Int] {
        groups == 1 ? weight : [groups, weight[0] / groups] + weight[1...]
    }

    var settings: [Int] {
        input + weight + stride + padding + dilation + [groups, hasBias ? 1 : 0, DataType.allCases.firstIndex(of: dataType)!]
    }

    /// oneDNN's strides, paddings and dilations (counted from 0, where PyTorch counts from 1).
    var dnnlStride: [Int64] { stride.map(Int64.init) }
    var dnnlPadding: [Int64] { padding.map(Int64.init) }
    var dnnlDilation: [Int64] { dilation.map { Int64($0 - 1) } }

    /// The forward primitive. When a backward-data pass will follow, its activation layouts are
    /// pinned to those the backward-data kernel wants: left free, oneDNN may pick NHWC for the
    /// forward pass (brgconv on AVX-512) and nChw16c for the backward passes, and every layer
    /// would then reorder its activations and gradients on each step. Not pinned where that
    /// would leave only oneDNN's slow reference kernel (a 3-channel stem in a blocked layout),
    /// nor for the first layer, whose input needs no gradient.
    func forwardPrimitive(training: Bool, inputNeedsGradient: Bool) throws -> Primitive {
        let op = training ? (inputNeedsGradient ? "conv2d.forward_training" : "conv2d.forward_training_first") : "conv2d.forward_inference"
        return try Context.shared.cache.primitive(for: PrimitiveKey(op: op, settings: settings)) {
            let free = try forwardDescriptor(training: training, source: .any(input, dataType: dataType),
                                             destination: .any(output, dataType: dataType))
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

    func forwardDescriptor(training: Bool, source: MemoryDescriptor, destination: MemoryDescriptor) throws -> PrimitiveDescriptor {
        var desc = dnnl_convolution_desc_t()
        var src = source.raw, wei = MemoryDescriptor.any(kernelWeightDims, dataType: dataType).raw
        var dst = destination.raw, bia = MemoryDescriptor(plain: [weight[0]]).raw
        let prop = training ? dnnl_forward_training : dnnl_forward_inference
        let status = withOptionalPointer(&bia, if: hasBias) {
            dnnl_dilated_convolution_forward_desc_init(&desc, prop, dnnl_convolution_direct, &src, &wei, $0, &dst,
                                                       dnnlStride, dnnlDilation, dnnlPadding, dnnlPadding)
        }
        try check(status, op: "conv2d", shapes)
        return try PrimitiveDescriptor(op: "conv2d", shapes: shapes, desc: &desc)
    }

    private func backwardDataDescriptor(hint: PrimitiveDescriptor) throws -> PrimitiveDescriptor {
        var desc = dnnl_convolution_desc_t()
        var dsrc = MemoryDescriptor.any(input, dataType: dataType).raw
        var wei = MemoryDescriptor.any(kernelWeightDims, dataType: dataType).raw
        var ddst = MemoryDescriptor.any(output, dataType: dataType).raw
        try check(dnnl_dilated_convolution_backward_data_desc_init(
            &desc, dnnl_convolution_direct, &dsrc, &wei, &ddst, dnnlStride, dnnlDilation, dnnlPadding, dnnlPadding),
            op: "conv2d.backward_data", shapes)
        return try PrimitiveDescriptor(op: "conv2d.backward_data", shapes: shapes, desc: &desc, hint: hint)
    }

    private func backwardWeightsDescriptor(source: MemoryDescriptor, gradOutput: MemoryDescriptor,
                                           hint: PrimitiveDescriptor) throws -> PrimitiveDescriptor {
        let op = "conv2d.backward_weights"
        var desc = dnnl_convolution_desc_t()
        // Float32 weight and bias gradients from 16-bit activations (oneDNN accumulates in Float32).
        var src = source.raw, dwei = MemoryDescriptor.any(kernelWeightDims).raw
        var ddst = gradOutput.raw, dbia = MemoryDescriptor(plain: [weight[0]]).raw
        let status = withOptionalPointer(&dbia, if: hasBias) {
            dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &dwei, $0, &ddst,
                                                                dnnlStride, dnnlDilation, dnnlPadding, dnnlPadding)
        }
        try check(status, op: op, shapes)
        return try PrimitiveDescriptor(op: op, shapes: shapes, desc: &desc, hint: hint)
    }

    /// Plain Float32 [O, C/g, kh, kw] weights in the layout and type a primitive wants.
    func reorderWeight(_ plain: Tensor, to target: MemoryDescriptor) throws -> Tensor {
        let grouped = Tensor(shape: kernelWeightDims, layout: OneDNNLayout(MemoryDescriptor(plain: kernelWeightDims)), device: .cpu, storage: plain.storage)
        return try grouped.reordered(to: target, op: "conv2d")
    }

    /// A backward primitive is made with the forward one as its hint, so it is cached under the
    /// forward pass's activation layouts too: a first layer (free layouts) and a later layer with
    /// the same settings (pinned layouts) each keep the backward kernel chosen for their own.
    func backwardKey(_ op: String, hint: PrimitiveDescriptor) -> PrimitiveKey {
        PrimitiveKey(op: op, settings: settings,
                     descriptors: [hint.memory(dnnl_query_src_md)!, hint.memory(dnnl_query_dst_md)!])
    }

    func backwardData(_ gradOutput: Tensor, weight plainWeight: Tensor, hint: PrimitiveDescriptor) throws -> Tensor {
        let key = backwardKey("conv2d.backward_data", hint: hint)
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
    /// Its layouts are left free unless that leaves oneDNN's im2col-gemm or reference kernel: then
    /// the forward pass's layouts are tried, then NHWC, for a direct kernel. (With fewer than 16
    /// channels in bf16, as in the 3->8 and 8->8 convolutions of `cifar_resnet20d`'s deep stem,
    /// the free choice is plain layouts and gemm, and the only direct kernel takes NHWC: at batch
    /// 128, 32x32, 2 threads of an AVX-512 BF16 CPU, 6.2 and 8.6 ms a step against 0.4 and 1.0 ms.)
    func backwardWeights(_ gradOutput: Tensor, source: Tensor, hint: PrimitiveDescriptor) throws -> (Tensor, Tensor?) {
        let op = "conv2d.backward_weights"
        let key = backwardKey(op, hint: hint)
        let primitive = try Context.shared.cache.primitive(for: key) {
            let free = try backwardWeightsDescriptor(source: .any(input, dataType: dataType),
                                                     gradOutput: .any(output, dataType: dataType), hint: hint)
            func direct(_ pd: PrimitiveDescriptor) -> Bool {
                !pd.implementation.hasPrefix("ref") && !pd.implementation.contains("gemm")
            }
            guard !direct(free) else { return try Primitive(op: op, descriptor: free) }
            // Activations are 4-D (ConvGeometry checks), so NHWC always describes them.
            let candidates = [(hint.memory(dnnl_query_src_md)!, hint.memory(dnnl_query_dst_md)!),
                              (try MemoryDescriptor(dims: input, dataType: dataType, tag: dnnl_nhwc),
                               try MemoryDescriptor(dims: output, dataType: dataType, tag: dnnl_nhwc))]
            for (source, gradOutput) in candidates {
                if let pinned = try? backwardWeightsDescriptor(source: source, gradOutput: gradOutput, hint: hint), direct(pinned) {
                    return try Primitive(op: op, descriptor: pinned)
                }
            }
            return try Primitive(op: op, descriptor: free)
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

