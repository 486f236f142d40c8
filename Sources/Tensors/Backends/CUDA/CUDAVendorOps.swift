import Foundation
import Synchronization

/// cuDNN and cuBLAS with their handles, and one convolution plan per shape.
final class CUDAVendorLibraries: @unchecked Sendable {
    let cudnn: CuDNN
    let cudnnHandle: OpaquePointer
    let cublas: CuBLAS
    /// Float32 convolutions on tensor cores in TF32 (10-bit mantissa products, Float32 sums),
    /// as PyTorch's default `torch.backends.cudnn.allow_tf32 = True`; `TRICKS_CUDNN_TF32=0`
    /// restricts cuDNN to FMA kernels (what `tricks selftest` compares with the CPU).
    let allowTF32: Bool
    private let plans = Mutex<[String: ConvolutionPlan]>([:])

    init(_ libraries: CUDALibraries, environment: [String: String]) throws {
        allowTF32 = environment["TRICKS_CUDNN_TF32"] != "0"
        cudnn = try CuDNN(libraries)
        cudnnHandle = try cudnn.makeHandle()
        cublas = try CuBLAS(libraries)
    }

    /// The descriptors and algorithms of `geometry`, made on its first use: the algorithm
    /// search runs once per shape.
    func plan(_ g: ConvGeometry) throws -> ConvolutionPlan {
        let key = "\(g.input) \(g.weight) \(g.stride) \(g.padding) \(g.dilation) \(g.groups)"
        if let plan = plans.withLock({ $0[key] }) { return plan }
        let plan = try ConvolutionPlan(g, cudnn: cudnn, handle: cudnnHandle, math: allowTF32 ? .default : .fma)
        plans.withLock { $0[key] = plan }
        return plan
    }
}

/// cuDNN descriptors of one convolution shape (NCHW, Float32; TF32 tensor cores allowed or FMA
/// only; the algorithm may be Winograd or FFT, which round differently from a direct
/// convolution) and the algorithm cuDNN's heuristic picks for each direction.
final class ConvolutionPlan: @unchecked Sendable {
    private let cudnn: CuDNN
    let x: OpaquePointer, y: OpaquePointer, w: OpaquePointer, conv: OpaquePointer
    let forward: (algorithm: Int32, workspace: Int)
    let backwardData: (algorithm: Int32, workspace: Int)
    let backwardFilter: (algorithm: Int32, workspace: Int)

    init(_ g: ConvGeometry, cudnn: CuDNN, handle: OpaquePointer, math: CuDNN.MathType) throws {
        self.cudnn = cudnn
        let x = try cudnn.tensorDescriptor(g.input), y = try cudnn.tensorDescriptor(g.output)
        (self.x, self.y) = (x, y)
        var w: OpaquePointer?, conv: OpaquePointer?
        try cudnn.check(cudnn.createFilterDescriptor(&w), "cudnnCreateFilterDescriptor")
        try cudnn.check(cudnn.createConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor")
        (self.w, self.conv) = (w!, conv!)
        let ws = g.weight.map(Int32.init)
        try cudnn.check(cudnn.setFilter4dDescriptor(w!, CuDNN.DataType.float.rawValue, CuDNN.Format.nchw.rawValue, ws[0], ws[1], ws[2], ws[3]),
                        "cudnnSetFilter4dDescriptor(\(g.weight))")
        try cudnn.check(cudnn.setConvolution2dDescriptor(conv!, Int32(g.padding[0]), Int32(g.padding[1]), Int32(g.stride[0]), Int32(g.stride[1]),
                                                         Int32(g.dilation[0]), Int32(g.dilation[1]), CuDNN.crossCorrelation,
                                                         CuDNN.DataType.float.rawValue), "cudnnSetConvolution2dDescriptor")
        try cudnn.check(cudnn.setConvolutionGroupCount(conv!, Int32(g.groups)), "cudnnSetConvolutionGroupCount(\(g.groups))")
        try cudnn.check(cudnn.setConvolutionMathType(conv!, math.rawValue), "cudnnSetConvolutionMathType")
        let shapes = "input \(g.input), weight \(g.weight)"
        forward = try Self.choose("forward", shapes, search: { cudnn.getConvolutionForwardAlgorithm(handle, x, w!, conv!, y, $0, $1, $2) },
                                  size: { cudnn.getConvolutionForwardWorkspaceSize(handle, x, w!, conv!, y, $0, $1) }, cudnn: cudnn)
        backwardData = try Self.choose("backward data", shapes,
                                       search: { cudnn.getConvolutionBackwardDataAlgorithm(handle, w!, y, conv!, x, $0, $1, $2) },
                                       size: { cudnn.getConvolutionBackwardDataWorkspaceSize(handle, w!, y, conv!, x, $0, $1) }, cudnn: cudnn)
        backwardFilter = try Self.choose("backward filter", shapes,
                                         search: { cudnn.getConvolutionBackwardFilterAlgorithm(handle, x, y, conv!, w!, $0, $1, $2) },
                                         size: { cudnn.getConvolutionBackwardFilterWorkspaceSize(handle, x, y, conv!, w!, $0, $1) }, cudnn: cudnn)
    }

    /// The first algorithm the heuristic offers that it says can run, and its workspace.
    private static func choose(_ direction: String, _ shapes: String,
                               search: (Int32, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer) -> CuDNN.Status,
                               size: (Int32, UnsafeMutablePointer<Int>) -> CuDNN.Status, cudnn: CuDNN) throws -> (Int32, Int) {
        // cudnnConvolution*AlgoPerf_t: algo (int) at 0, status (int) at 4, then time, memory,
        // determinism, mathType and 3 reserved ints: 48 bytes each, in all three directions.
        let stride = 48, requested: Int32 = 8
        let perf = UnsafeMutableRawPointer.allocate(byteCount: stride * Int(requested), alignment: 8)
        defer { perf.deallocate() }
        var returned: Int32 = 0
        try cudnn.check(search(requested, &returned, perf), "cuDNN's \(direction) algorithm search (\(shapes))")
        guard let choice = (0..<Int(returned)).first(where: { perf.load(fromByteOffset: $0 * stride + 4, as: Int32.self) == 0 }) else {
            throw CUDAError("cuDNN offers no \(direction) algorithm for \(shapes)")
        }
        let algorithm = perf.load(fromByteOffset: choice * stride, as: Int32.self)
        var bytes = 0
        try cudnn.check(size(algorithm, &bytes), "cuDNN's \(direction) workspace size (\(shapes), algorithm \(algorithm))")
        return (algorithm, bytes)
    }

    deinit {
        _ = (cudnn.destroyTensorDescriptor(x), cudnn.destroyTensorDescriptor(y))
        _ = (cudnn.destroyFilterDescriptor(w), cudnn.destroyConvolutionDescriptor(conv))
    }
}

extension CuDNN {
    /// A Float32 NCHW descriptor of `dims` ([N, C], [N, C, L] and [N, C, H, W] as 4-D).
    func tensorDescriptor(_ dims: [Int]) throws -> Descriptor {
        let d = (dims + [1, 1, 1]).prefix(4).map(Int32.init)
        var descriptor: Descriptor?
        try check(createTensorDescriptor(&descriptor), "cudnnCreateTensorDescriptor")
        try check(setTensor4dDescriptor(descriptor!, Format.nchw.rawValue, DataType.float.rawValue, d[0], d[1], d[2], d[3]),
                  "cudnnSetTensor4dDescriptor(\(dims))")
        return descriptor!
    }
}

/// A device address as the C APIs take it.
func address(_ p: CUDADriver.DevicePointer) -> UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: UInt(p)) }

/// Convolution and batch norm (cuDNN) and the fully connected layer (cuBLAS); without them
/// (the emulation), the CPU backend's.
extension CUDABackend {
    /// Workspace for one call, back to the cache when it returns (one stream: the next kernel
    /// that takes the block runs after this call's).
    private func workspace(_ bytes: Int) throws -> CUDAStorage? {
        bytes > 0 ? try CUDAStorage(byteCount: bytes, allocator: context().allocator) : nil
    }

    package func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry,
                        recording: Bool) throws -> (Tensor, Pullback?) {
        guard let vendor = try context().vendor else {
            return try viaHost([input, weight, bias]) { h, _ in
                try OneDNNBackend.shared.conv2d(h[0]!, weight: h[1]!, bias: h[2], geometry: g, recording: recording)
            }
        }
        let (cudnn, handle) = (vendor.cudnn, vendor.cudnnHandle)
        try runtime.makeCurrent()
        let y = try empty(g.output)
        let plan = try vendor.plan(g)
        let (x, w) = (try converted(input, to: .float32), try converted(weight, to: .float32))
        var (one, zero): (Float, Float) = (1, 0)
        let space = try workspace(plan.forward.workspace)
        // Every tensor whose address a call takes lives until the call has been queued: else
        // its block could go back to the cache (and to another tensor) before the call.
        try withExtendedLifetime((x, w, y, space)) { try cudnn.check(cudnn.convolutionForward(handle, &one, plan.x, address(x.devicePointer), plan.w, address(w.devicePointer), plan.conv,
                                                 plan.forward.algorithm, space.flatMap { address($0.block.pointer) }, plan.forward.workspace,
                                                 &zero, plan.y, address(y.devicePointer)),
                        "cudnnConvolutionForward (input \(g.input), weight \(g.weight), algorithm \(plan.forward.algorithm))") }
        let inner = g.output[2] * g.output[3]
        if let bias {
            let b = try converted(bias, to: .float32)
            try launch("add_channel_bias_f32", y.count, .pointer(y.devicePointer), .pointer(b.devicePointer), .int(g.output[1]),
                       .count(inner), .count(y.count))
        }
        guard recording else { return (y, nil) }
        let (savedX, savedW, hasBias) = (x.detached(), w.detached(), bias != nil)
        return (y, { grad in
            var (one, zero): (Float, Float) = (1, 0)
            try self.runtime.makeCurrent()
            let dy = try self.converted(grad, to: .float32)
            let dx = try self.empty(g.input), dw = try self.empty(g.weight)
            let dataSpace = try self.workspace(plan.backwardData.workspace)
            try withExtendedLifetime((dy, dx, dataSpace)) { try cudnn.check(cudnn.convolutionBackwardData(handle, &one, plan.w, address(savedW.devicePointer), plan.y, address(dy.devicePointer),
                                                          plan.conv, plan.backwardData.algorithm, dataSpace.flatMap { address($0.block.pointer) },
                                                          plan.backwardData.workspace, &zero, plan.x, address(dx.devicePointer)),
                            "cudnnConvolutionBackwardData (input \(g.input), weight \(g.weight))") }
            let filterSpace = try self.workspace(plan.backwardFilter.workspace)
            try withExtendedLifetime((dy, dw, filterSpace)) { try cudnn.check(cudnn.convolutionBackwardFilter(handle, &one, plan.x, address(savedX.devicePointer), plan.y, address(dy.devicePointer),
                                                            plan.conv, plan.backwardFilter.algorithm, filterSpace.flatMap { address($0.block.pointer) },
                                                            plan.backwardFilter.workspace, &zero, plan.w, address(dw.devicePointer)),
                            "cudnnConvolutionBackwardFilter (input \(g.input), weight \(g.weight))") }
            var db: Tensor?
            if hasBias {
                db = try self.empty([g.output[1]])
                try self.launch("channel_sum_f32", g.output[1], .pointer(db!.devicePointer), .pointer(dy.devicePointer), .count(g.output[0]),
                                .int(g.output[1]), .count(inner))
            }
            return [dx, dw, db]
        })
    }

    package func batchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                           training: Bool, momentum: Float, eps: Float, fusedReLU: Bool, recording: Bool) throws -> (Tensor, Pullback?) {
        // cuDNN's backward pass assumes batch statistics: a recorded pass in inference mode
        // (frozen batch norm) goes to the CPU backend.
        guard let vendor = try context().vendor, training || !recording else {
            return try viaHost([input, weight, bias], updating: [runningMean, runningVar]) { h, s in
                try OneDNNBackend.shared.batchNorm(h[0]!, weight: h[1]!, bias: h[2]!, runningMean: s[0], runningVar: s[1], training: training,
                                                   momentum: momentum, eps: eps, fusedReLU: fusedReLU, recording: recording)
            }
        }
        let (cudnn, handle) = (vendor.cudnn, vendor.cudnnHandle)
        try runtime.makeCurrent()
        let c = input.shape[1]
        let x = try converted(input, to: .float32)
        let xDesc = try cudnn.tensorDescriptor([x.shape[0], c, x.count / (x.shape[0] * c)])
        let bnDesc = try cudnn.tensorDescriptor([1, c])
        defer { _ = (cudnn.destroyTensorDescriptor(xDesc), cudnn.destroyTensorDescriptor(bnDesc)) }
        let y = try empty(input.shape)
        var (one, zero): (Float, Float) = (1, 0)
        let (gamma, beta) = (try converted(weight, to: .float32), try converted(bias, to: .float32))
        let call = "batch norm of \(input.shape)"
        guard training else {
            try withExtendedLifetime((x, y, gamma, beta)) { try cudnn.check(cudnn.batchNormalizationForwardInference(handle, CuDNN.batchNormSpatial, &one, &zero, xDesc, address(x.devicePointer), xDesc,
                                                                     address(y.devicePointer), bnDesc, address(gamma.devicePointer),
                                                                     address(beta.devicePointer), address(runningMean.devicePointer),
                                                                     address(runningVar.devicePointer), Double(eps)),
                            "cudnnBatchNormalizationForwardInference (\(call))") }
            if fusedReLU { try launch("relu_f32", y.count, .pointer(y.devicePointer), .pointer(y.devicePointer), .count(y.count)) }
            return (y, nil)
        }
        // cuDNN updates the running statistics with factor `momentum`, the variance unbiased, as PyTorch.
        let savedMean = try empty([c]), savedInvStd = try empty([c])
        try withExtendedLifetime((x, y, gamma, beta)) { try cudnn.check(cudnn.batchNormalizationForwardTraining(handle, CuDNN.batchNormSpatial, &one, &zero, xDesc, address(x.devicePointer), xDesc,
                                                                address(y.devicePointer), bnDesc, address(gamma.devicePointer),
                                                                address(beta.devicePointer), Double(momentum), address(runningMean.devicePointer),
                                                                address(runningVar.devicePointer), Double(eps), address(savedMean.devicePointer),
                                                                address(savedInvStd.devicePointer)),
                        "cudnnBatchNormalizationForwardTraining (\(call))") }
        if fusedReLU { try launch("relu_f32", y.count, .pointer(y.devicePointer), .pointer(y.devicePointer), .count(y.count)) }
        guard recording else { return (y, nil) }
        let (savedX, savedY, savedGamma) = (x.detached(), y.detached(), gamma.detached())
        let shape = input.shape
        return (y, { grad in
            try self.runtime.makeCurrent()
            var dy = try self.converted(grad, to: .float32)
            if fusedReLU {
                let masked = try self.empty(shape)
                try self.launch("relu_backward_f32", masked.count, .pointer(masked.devicePointer), .pointer(dy.devicePointer),
                                .pointer(savedY.devicePointer), .count(masked.count))
                dy = masked
            }
            let xDesc = try cudnn.tensorDescriptor([shape[0], c, savedX.count / (shape[0] * c)])
            let bnDesc = try cudnn.tensorDescriptor([1, c])
            defer { _ = (cudnn.destroyTensorDescriptor(xDesc), cudnn.destroyTensorDescriptor(bnDesc)) }
            let dx = try self.empty(shape), dgamma = try self.empty([c]), dbeta = try self.empty([c])
            var (one, zero): (Float, Float) = (1, 0)
            try withExtendedLifetime((dy, dx, dgamma, dbeta)) { try cudnn.check(cudnn.batchNormalizationBackward(handle, CuDNN.batchNormSpatial, &one, &zero, &one, &zero, xDesc,
                                                             address(savedX.devicePointer), xDesc, address(dy.devicePointer), xDesc,
                                                             address(dx.devicePointer), bnDesc, address(savedGamma.devicePointer),
                                                             address(dgamma.devicePointer), address(dbeta.devicePointer), Double(eps),
                                                             address(savedMean.devicePointer), address(savedInvStd.devicePointer)),
                            "cudnnBatchNormalizationBackward (\(call))") }
            return [dx, dgamma, dbeta]
        })
    }

    /// y = x W^T + b with cuBLAS; the bias and its gradient with this backend's kernels.
    package func linear(_ input: Tensor, weight: Tensor, bias: Tensor?, recording: Bool) throws -> (Tensor, Pullback?) {
        guard let vendor = try context().vendor else {
            return try viaHost([input, weight, bias]) { h, _ in
                try OneDNNBackend.shared.linear(h[0]!, weight: h[1]!, bias: h[2], recording: recording)
            }
        }
        let blas = vendor.cublas
        try runtime.makeCurrent()
        let (n, k, o) = (input.shape[0], input.shape[1], weight.shape[0])
        let (x, w) = (try converted(input, to: .float32), try converted(weight, to: .float32))
        let y = try empty([n, o])
        try withExtendedLifetime((x, w, y)) {
            try blas.multiply(x.devicePointer, w.devicePointer, into: y.devicePointer, m: n, n: o, k: k, transposeA: false, transposeB: true)
        }
        if let bias {
            let b = try converted(bias, to: .float32)
            try launch("add_channel_bias_f32", y.count, .pointer(y.devicePointer), .pointer(b.devicePointer), .int(o), .count(1), .count(y.count))
        }
        guard recording else { return (y, nil) }
        let (savedX, savedW, hasBias) = (x.detached(), w.detached(), bias != nil)
        return (y, { grad in
            try self.runtime.makeCurrent()
            let dy = try self.converted(grad, to: .float32)
            let dx = try self.empty([n, k]), dw = try self.empty([o, k])
            try withExtendedLifetime((dy, dx, dw)) {
                try blas.multiply(dy.devicePointer, savedW.devicePointer, into: dx.devicePointer, m: n, n: k, k: o, transposeA: false, transposeB: false)
                try blas.multiply(dy.devicePointer, savedX.devicePointer, into: dw.devicePointer, m: o, n: k, k: n, transposeA: true, transposeB: false)
            }
            var db: Tensor?
            if hasBias {
                db = try self.empty([o])
                try self.launch("channel_sum_f32", o, .pointer(db!.devicePointer), .pointer(dy.devicePointer), .count(n), .int(o), .count(1))
            }
            return [dx, dw, db]
        })
    }
}
