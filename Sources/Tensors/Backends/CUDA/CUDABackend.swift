import Foundation

/// Device memory from the caching allocator, given back to it with the last tensor that uses it.
package final class CUDAStorage: Storage {
    package let block: CUDACachingAllocator.Block
    private let allocator: CUDACachingAllocator

    package init(byteCount: Int, allocator: CUDACachingAllocator) throws {
        block = try allocator.allocate(bytes: byteCount)
        self.allocator = allocator
        super.init(byteCount: byteCount)
    }

    deinit { allocator.release(block) }
}

extension Tensor {
    /// The device address of a CUDA tensor's elements.
    package var devicePointer: CUDADriver.DevicePointer { (storage as! CUDAStorage).block.pointer }
}

/// The `cuda` device (issue 17): tensors in GPU memory, plain row-major (NCHW) for now, Float32
/// arithmetic (16-bit storage is emulated by rounding, as on CPUs without native kernels).
/// Elementwise ops, pooling, softmax, the losses and the optimiser step are this backend's own
/// kernels (`CUDAKernels`); convolution and batch norm are cuDNN's and the fully connected layer
/// cuBLAS's (`CUDAVendorOps.swift`). The ops still missing a GPU kernel (SyncBatchNorm, the
/// segmentation ops) run on the CPU backend through host copies (`viaHost`): correct, slow.
///
/// Loaded on first use: where CUDA is not usable, every op throws the one-line reason
/// (`CUDALibraries.load`). `TRICKS_CUDA_EMULATION=1` runs it without a GPU instead, its kernels
/// compiled for the host and cuDNN's and cuBLAS's ops on the CPU backend: how the tests check
/// the backend's own code on machines without one. That emulation is test equipment (it runs
/// clang++), so it lives in the Diagnostics target (`CUDAHostEmulation`), which registers it
/// here (`emulation`) in the programs that offer it: `tricks` and the tests.
///
/// One stream (the legacy default one), in which kernels, cuDNN, cuBLAS and the synchronous
/// copies run in the order they are issued; so a block released to the allocator may be handed
/// to the next op at once. That holds while ops are issued from one thread at a time, as the
/// trainer does (the loader's threads never touch the device); the cuDNN and cuBLAS handles are
/// not shared between concurrent threads either.
package final class CUDABackend: Backend, @unchecked Sendable {
    package static let shared = CUDABackend()
    package var device: Device { .cuda }
    /// The backend's own kernels (NVRTC) with cuDNN and cuBLAS, on the runtime that loaded, or why none did.
    package var kernels: KernelLibrary {
        let runtime = (try? context().runtime.name) ?? "not usable here"
        return KernelLibrary(name: "CUDA kernels, cuDNN, cuBLAS", version: nil, instructionSet: runtime)
    }

    package struct Context {
        package let runtime: any CUDARuntime
        package let allocator: CUDACachingAllocator
        /// cuDNN and cuBLAS on the GPU; nil under emulation.
        let vendor: CUDAVendorLibraries?
    }

    private let loaded: Result<Context, any Error>

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        loaded = Result {
            if environment["TRICKS_CUDA_EMULATION"] == "1" {
                let runtime = try CUDABackend.emulation.make(environment: environment)
                return Context(runtime: runtime, allocator: CUDACachingAllocator(source: runtime), vendor: nil)
            }
            let libraries = try CUDALibraries.load([CUDALibraries.driver, CUDALibraries.cudnn, CUDALibraries.cublas, CUDALibraries.nvrtc],
                                                   environment: environment)
            let runtime = try CUDADeviceRuntime(libraries: libraries)
            return Context(runtime: runtime, allocator: CUDACachingAllocator(source: runtime),
                           vendor: try CUDAVendorLibraries(libraries, environment: environment))
        }
    }

    /// Where `TRICKS_CUDA_EMULATION=1` gets its runtime from; registered before the first CUDA op.
    package static let emulation = EmulatedRuntime()

    package final class EmulatedRuntime: @unchecked Sendable {
        package typealias Factory = @Sendable ([String: String]) throws -> any CUDARuntime
        private let lock = NSLock()
        private var factory: Factory?

        package func register(_ factory: @escaping Factory) {
            lock.withLock { self.factory = factory }
        }

        func make(environment: [String: String]) throws -> any CUDARuntime {
            guard let factory = lock.withLock({ self.factory }) else {
                throw CUDAError("TRICKS_CUDA_EMULATION=1, but this program has no CUDA emulation (it is in the Diagnostics target: call CUDAHostEmulation.register() first)")
            }
            return try factory(environment)
        }
    }

    package func context() throws -> Context { try loaded.get() }
    package var runtime: any CUDARuntime { get throws { try context().runtime } }

    /// Whether `--device cuda` works here (what `--device auto` asks), else why not.
    package static var availability: Result<String, any Error> { shared.loaded.map { $0.runtime.name } }

    /// Whether this runs on a real GPU (not unusable, not the emulation).
    package var hasGPU: Bool { (try? context().vendor) != nil }

    /// Bytes in use by tensors, and the most there were (the caching allocator's).
    package var memoryStatistics: CUDACachingAllocator.Statistics? { try? context().allocator.statistics }

    // MARK: Memory

    package func plainLayout(_ dims: [Int], dataType: DataType) -> any Layout { PlainLayout(dims, dataType: dataType) }

    /// Float32 everywhere for now; 16-bit storage is emulated (`roundInPlace`).
    package func computesNatively(_ type: DataType) -> Bool { type == .float32 }

    /// Uninitialised device memory for a row-major tensor.
    package func empty(_ dims: [Int], _ type: DataType = .float32) throws -> Tensor {
        let layout = PlainLayout(dims, dataType: type)
        return Tensor(shape: dims, layout: layout, device: .cuda, storage: try CUDAStorage(byteCount: layout.byteCount, allocator: context().allocator))
    }

    func filled(_ dims: [Int], _ value: Float) throws -> Tensor {
        let t = try empty(dims)
        try launch("fill_f32", t.count, .pointer(t.devicePointer), .float(value), .count(t.count))
        return t
    }

    package func launch(_ kernel: String, _ elements: Int, _ arguments: KernelArgument...) throws {
        try runtime.launch(kernel, elements: elements, arguments)
    }

    package func tensor(shape: [Int], values: UnsafeBufferPointer<Float>) throws -> Tensor {
        let t = try empty(shape)
        try runtime.upload(values.baseAddress!, bytes: values.count * 4, to: t.devicePointer)
        return t
    }

    package func scalars(_ x: Tensor) throws -> [Float] {
        let f = try converted(x, to: .float32)
        var values = [Float](repeating: 0, count: x.count)
        try values.withUnsafeMutableBytes { try runtime.download($0.baseAddress!, bytes: $0.count, from: f.devicePointer) }
        return values
    }

    package func assign(_ destination: Tensor, from source: Tensor) throws {
        let converted = try self.converted(source, to: destination.dataType)
        try runtime.copy(bytes: destination.layout.byteCount, from: converted.devicePointer, to: destination.devicePointer)
    }

    /// Every tensor here is plain, so only the element type can differ.
    package func reordered(_ x: Tensor, like target: Tensor) throws -> Tensor { try converted(x, to: target.dataType) }

    package func copy(_ x: Tensor, like target: Tensor) throws -> Tensor {
        let result = try empty(x.shape, target.dataType)
        try assign(result, from: x)
        return result
    }

    package func contiguous(_ x: Tensor) throws -> Tensor { x }

    package func converted(_ x: Tensor, to type: DataType) throws -> Tensor {
        if type == x.dataType { return x }
        guard x.dataType == .float32 || type == .float32 else { return try converted(converted(x, to: .float32), to: type) }
        let kernel = switch (x.dataType, type) {
        case (.float32, .bfloat16): "f32_to_bf16"
        case (.float32, .float16): "f32_to_f16"
        case (.bfloat16, _): "bf16_to_f32"
        default: "f16_to_f32"
        }
        let y = try empty(x.shape, type)
        try launch(kernel, x.count, .pointer(y.devicePointer), .pointer(x.devicePointer), .count(x.count))
        return y
    }

    package func roundInPlace(_ x: Tensor, to type: DataType) throws {
        guard x.dataType == .float32, type != .float32 else { return }
        try launch("round_f32", x.count, .pointer(x.devicePointer), .int(Self.roundingCode(type)), .count(x.count))
    }

    /// The kernels' code for rounding to `type`: 1 bfloat16, 2 float16, 0 none.
    static func roundingCode(_ type: DataType?) -> Int { type == .bfloat16 ? 1 : type == .float16 ? 2 : 0 }

    // MARK: Elementwise

    /// y = kernel(x) elementwise into a new tensor.
    private func map1(_ kernel: String, _ x: Tensor) throws -> Tensor {
        let y = try empty(x.shape)
        try launch(kernel, x.count, .pointer(y.devicePointer), .pointer(x.devicePointer), .count(x.count))
        return y
    }

    /// y = kernel(a, b) elementwise into a new tensor.
    private func map2(_ kernel: String, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let y = try empty(a.shape)
        try launch(kernel, a.count, .pointer(y.devicePointer), .pointer(a.devicePointer), .pointer(b.devicePointer), .count(a.count))
        return y
    }

    package func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try map2("add_f32", a, reordered(b, like: a)) }

    package func scale(_ x: Tensor, by factor: Float) throws -> Tensor {
        let y = try empty(x.shape)
        try launch("scale_f32", x.count, .pointer(y.devicePointer), .pointer(x.devicePointer), .float(factor), .count(x.count))
        return y
    }

    package func multiply(_ a: Tensor, _ b: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let b = try reordered(b, like: a)
        let y = try map2("multiply_f32", a, b)
        guard recording else { return (y, nil) }
        let (savedA, savedB) = (a.detached(), b.detached())
        return (y, { g in
            let g = try self.reordered(g, like: savedA)
            return [try self.map2("multiply_f32", g, savedB), try self.map2("multiply_f32", g, savedA)]
        })
    }

    package func relu(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = try map1("relu_f32", x)
        guard recording else { return (y, nil) }
        let saved = y.detached()
        return (y, { g in [try self.map2("relu_backward_f32", self.reordered(g, like: saved), saved)] })
    }

    package func relu6(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = try map1("relu6_f32", x)
        guard recording else { return (y, nil) }
        let saved = x.detached()
        return (y, { g in [try self.map2("relu6_backward_f32", self.reordered(g, like: saved), saved)] })
    }

    package func addReLU(_ a: Tensor, _ b: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = try map2("add_relu_f32", a, reordered(b, like: a))
        guard recording else { return (y, nil) }
        let saved = y.detached()
        return (y, { g in
            let masked = try self.map2("relu_backward_f32", self.reordered(g, like: saved), saved)
            return [masked, masked]
        })
    }

    package func dropout(_ x: Tensor, p: Float, generator: inout SeededGenerator, recording: Bool) throws -> (Tensor, Pullback?) {
        // The mask is drawn on the host from the same generator as the CPU backends', per element.
        let keep = 1 / (1 - p)
        let values = (0..<x.count).map { _ in Float.random(in: 0..<1, using: &generator) < p ? 0 : keep }
        let mask = try values.withUnsafeBufferPointer { try tensor(shape: x.shape, values: $0) }
        let y = try map2("multiply_f32", x, mask)
        guard recording else { return (y, nil) }
        return (y, { g in [try self.map2("multiply_f32", self.reordered(g, like: mask), mask)] })
    }

    package func concat(_ inputs: [Tensor], axis: Int, recording: Bool) throws -> (Tensor, Pullback?) {
        var shape = inputs[0].shape
        shape[axis] = inputs.reduce(0) { $0 + $1.shape[axis] }
        let y = try empty(shape)
        let slabs = inputs.map { $0.shape[axis...].reduce(1, *) }, total = slabs.reduce(0, +)
        var offset = 0
        for (x, slab) in zip(inputs, slabs) {
            let x = try converted(x, to: .float32)
            try launch("put_slab_f32", x.count, .pointer(y.devicePointer), .pointer(x.devicePointer), .count(slab), .count(total),
                       .count(offset), .count(x.count))
            offset += slab
        }
        guard recording else { return (y, nil) }
        let shapes = inputs.map(\.shape)
        return (y, { g in
            let g = try self.converted(g, to: .float32)
            var offset = 0
            return try zip(shapes, slabs).map { shape, slab in
                let part = try self.empty(shape)
                try self.launch("take_slab_f32", part.count, .pointer(part.devicePointer), .pointer(g.devicePointer), .count(slab),
                                .count(total), .count(offset), .count(part.count))
                offset += slab
                return part
            }
        })
    }

    // MARK: Pooling

    package func pool2d(_ x: Tensor, geometry g: PoolGeometry, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = try empty(g.output)
        let (h, w, oh, ow) = (g.input[2], g.input[3], g.output[2], g.output[3])
        let window: [KernelArgument] = [.int(g.kernel[0]), .int(g.kernel[1]), .int(g.stride[0]), .int(g.stride[1]),
                                        .int(g.padding[0]), .int(g.padding[1]), .int(g.dilation[0]), .int(g.dilation[1])]
        let includePad = KernelArgument.int(g.kind == .averageIncludingPadding ? 1 : 0)
        let sizes: [KernelArgument] = [.int(h), .int(w), .int(oh), .int(ow)]
        if g.kind == .max {
            let argmax = try CUDAStorage(byteCount: y.count * 4, allocator: context().allocator)
            try runtime.launch("max_pool_f32", elements: y.count, [.pointer(y.devicePointer), .pointer(argmax.block.pointer), .pointer(x.devicePointer)]
                               + sizes + window + [.count(y.count)])
            guard recording else { return (y, nil) }
            return (y, { grad in
                let dy = try self.converted(grad, to: .float32), dx = try self.filled(g.input, 0)
                try self.runtime.launch("max_pool_backward_f32", elements: dy.count, [.pointer(dx.devicePointer), .pointer(dy.devicePointer),
                                        .pointer(argmax.block.pointer)] + sizes + [.count(dy.count)])
                return [dx]
            })
        }
        try runtime.launch("avg_pool_f32", elements: y.count, [.pointer(y.devicePointer), .pointer(x.devicePointer)] + sizes + window
                           + [includePad, .count(y.count)])
        guard recording else { return (y, nil) }
        return (y, { grad in
            let dy = try self.converted(grad, to: .float32), dx = try self.filled(g.input, 0)
            try self.runtime.launch("avg_pool_backward_f32", elements: dy.count, [.pointer(dx.devicePointer), .pointer(dy.devicePointer)]
                                    + sizes + window + [includePad, .count(dy.count)])
            return [dx]
        })
    }

    // MARK: Softmax and losses

    package func logSoftmax(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let k = x.shape[x.rank - 1], rows = x.count / k
        let y = try empty(x.shape)
        try launch("log_softmax_f32", rows, .pointer(y.devicePointer), .pointer(x.devicePointer), .count(rows), .int(k))
        guard recording else { return (y, nil) }
        let saved = y.detached()
        return (y, { g in
            let g = try self.converted(g, to: .float32), dx = try self.empty(saved.shape)
            try self.launch("log_softmax_backward_f32", rows, .pointer(dx.devicePointer), .pointer(g.devicePointer), .pointer(saved.devicePointer),
                            .count(rows), .int(k))
            return [dx]
        })
    }

    package func crossEntropy(_ logits: Tensor, target: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let (n, k) = (logits.shape[0], logits.shape[1])
        let (logProbs, _) = try logSoftmax(logits, recording: false)
        let q = try converted(target, to: .float32)
        let rows = try empty([n])
        try launch("soft_cross_entropy_f32", n, .pointer(rows.devicePointer), .pointer(logProbs.devicePointer), .pointer(q.devicePointer),
                   .count(n), .int(k))
        let total = try hostSum(rows)
        let loss = try Tensor(shape: [1], scalars: [Float(total / Double(n))], device: .cuda)
        guard recording else { return (loss, nil) }
        let (savedLogProbs, savedTarget, needTarget) = (logProbs.detached(), q.detached(), target.requiresGrad)
        return (loss, { gradOutput in
            let g = try gradOutput.item() / Float(n)
            let dz = try self.empty([n, k])
            try self.launch("soft_cross_entropy_backward_f32", n, .pointer(dz.devicePointer), .pointer(savedLogProbs.devicePointer),
                            .pointer(savedTarget.devicePointer), .float(g), .count(n), .int(k))
            return [dz, needTarget ? try self.scale(savedLogProbs, by: -g) : nil]
        })
    }

    package func sum(_ x: Tensor) throws -> Float { Float(try hostSum(x)) }

    /// The elements summed on the host in Double, as the CPU backends sum.
    private func hostSum(_ x: Tensor) throws -> Double { try scalars(x).reduce(0.0) { $0 + Double($1) } }

    // MARK: On the CPU backend for now

    package func syncBatchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                               collective: any Collective, momentum: Float, eps: Float, fusedReLU: Bool,
                               recording: Bool) throws -> (Tensor, Pullback?) {
        try viaHost([input, weight, bias], updating: [runningMean, runningVar]) { h, statistics in
            try OneDNNBackend.shared.syncBatchNorm(h[0]!, weight: h[1]!, bias: h[2]!, runningMean: statistics[0], runningVar: statistics[1],
                                                   collective: collective, momentum: momentum, eps: eps, fusedReLU: fusedReLU, recording: recording)
        }
    }

    package func pixelCrossEntropy(_ logits: Tensor, labels: [Int32], ignoreIndex: Int, labelSmoothing: Float,
                                   recording: Bool) throws -> (Tensor, Pullback?) {
        try viaHost([logits]) { h, _ in
            try OneDNNBackend.shared.pixelCrossEntropy(h[0]!, labels: labels, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing, recording: recording)
        }
    }

    package func upsampleBilinear2d(_ x: Tensor, size: [Int], recording: Bool) throws -> (Tensor, Pullback?) {
        try viaHost([x]) { h, _ in try OneDNNBackend.shared.upsampleBilinear2d(h[0]!, size: size, recording: recording) }
    }

    package func upsampleNearest2d(_ x: Tensor, size: [Int], recording: Bool) throws -> (Tensor, Pullback?) {
        try viaHost([x]) { h, _ in try OneDNNBackend.shared.upsampleNearest2d(h[0]!, size: size, recording: recording) }
    }

    package func binaryCrossEntropyWithLogits(_ x: Tensor, selection: LossSelection, recording: Bool) throws -> (Tensor, Pullback?) {
        try viaHost([x]) { h, _ in try OneDNNBackend.shared.binaryCrossEntropyWithLogits(h[0]!, selection: selection, recording: recording) }
    }

    /// On the host until a CUDA kernel comes (the boxes are few: Faster R-CNN's proposals).
    package func nms(_ boxes: Tensor, scores: Tensor, threshold: Float) throws -> [Int] {
        let host = { (x: Tensor) in try Tensor(shape: x.shape, scalars: self.scalars(x), device: .cpu) }
        return try OneDNNBackend.shared.nms(host(boxes), scores: host(scores), threshold: threshold)
    }

    package func smoothL1Loss(_ x: Tensor, selection: LossSelection, beta: Float, recording: Bool) throws -> (Tensor, Pullback?) {
        try viaHost([x]) { h, _ in try OneDNNBackend.shared.smoothL1Loss(h[0]!, selection: selection, beta: beta, recording: recording) }
    }

    package func roiAlign(_ x: Tensor, geometry: RoIAlignGeometry, recording: Bool) throws -> (Tensor, Pullback?) {
        try viaHost([x]) { h, _ in try OneDNNBackend.shared.roiAlign(h[0]!, geometry: geometry, recording: recording) }
    }

    /// An op of the CPU backend on host copies of `inputs` (Float32), its result and its
    /// pullback's gradients copied back here. Tensors in `updating` (running statistics) are
    /// copied to the host, handed to `body`, and copied back after it.
    func viaHost(_ inputs: [Tensor?], updating: [Tensor] = [],
                 _ body: ([Tensor?], [Tensor]) throws -> (Tensor, Pullback?)) throws -> (Tensor, Pullback?) {
        // requiresGrad kept: the CPU kernels skip the gradients of inputs that need none.
        let toHost = { (x: Tensor) in try Tensor(shape: x.shape, scalars: self.scalars(x), requiresGrad: x.requiresGrad, device: .cpu) }
        let fromHost = { (x: Tensor) -> Tensor in try x.scalars.withUnsafeBufferPointer { try self.tensor(shape: x.shape, values: $0) } }
        let (y, pullback, statistics) = try Device.with(.cpu) {
            let statistics = try updating.map(toHost)
            let (y, pullback) = try body(try inputs.map { try $0.map(toHost) }, statistics)
            return (y, pullback, statistics)
        }
        for (tensor, host) in zip(updating, statistics) { try assign(tensor, from: fromHost(host)) }
        let result = try fromHost(y)
        guard let pullback else { return (result, nil) }
        return (result, { g in
            let host = try toHost(g)
            return try Device.with(.cpu) { try pullback(host) }.map { try $0.map(fromHost) }
        })
    }
}

/// A fused optimiser step on a device's own memory (`SGD.step` for parameters not in host memory).
package protocol DeviceSGD {
    /// One SGD update of `weights` in place (see `SGD`), through the Float32 `master` when set
    /// (then `weights` becomes it rounded to `roundTo`).
    func sgdStep(weights: Tensor, master: Tensor?, buffer: Tensor, gradient: Tensor, lr: Float, momentum: Float,
                 weightDecay: Float, gradientScale: Float, first: Bool, nesterov: Bool, roundTo: DataType?) throws
}

extension CUDABackend: DeviceSGD {
    package func sgdStep(weights: Tensor, master: Tensor?, buffer: Tensor, gradient: Tensor, lr: Float, momentum: Float,
                         weightDecay: Float, gradientScale: Float, first: Bool, nesterov: Bool, roundTo: DataType?) throws {
        let g = try converted(gradient, to: .float32)
        try launch("sgd_step_f32", weights.count, .pointer(weights.devicePointer), .pointer((master ?? weights).devicePointer),
                   .pointer(buffer.devicePointer), .pointer(g.devicePointer), .float(lr), .float(momentum), .float(weightDecay),
                   .float(gradientScale), .int(first ? 1 : 0), .int(nesterov ? 1 : 0), .int(master == nil ? 0 : Self.roundingCode(roundTo)),
                   .count(weights.count))
    }
}
