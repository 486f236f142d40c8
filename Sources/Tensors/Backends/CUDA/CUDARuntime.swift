import Foundation

/// What the CUDA backend asks of a device: memory, copies, and its own kernels launched by
/// name (`CUDAKernels`). Two implementations: `CUDADeviceRuntime` (the driver and NVRTC's
/// cubin, on a GPU) and `CUDAHostEmulation` (the same kernel source compiled for the host and
/// run one thread after another, device pointers being host addresses), with which the tests
/// run the backend on machines without a GPU.
package protocol CUDARuntime: DeviceMemorySource {
    /// For messages: the GPU's name, or that this is the emulation.
    var name: String { get }
    func upload(_ source: UnsafeRawPointer, bytes: Int, to destination: CUDADriver.DevicePointer) throws
    func download(_ destination: UnsafeMutableRawPointer, bytes: Int, from source: CUDADriver.DevicePointer) throws
    func copy(bytes: Int, from source: CUDADriver.DevicePointer, to destination: CUDADriver.DevicePointer) throws
    /// Runs kernel `name` over `elements` grid-stride indices with `arguments` in order.
    func launch(_ name: String, elements: Int, _ arguments: [KernelArgument]) throws
    func synchronize() throws
    /// Makes the device's context current on this thread (before calls into cuDNN and cuBLAS).
    func makeCurrent() throws
}

/// One argument of a kernel, by its C type.
package enum KernelArgument {
    case pointer(CUDADriver.DevicePointer)
    case float(Float)
    case int32(Int32)
    case int64(Int64)

    /// `.int32` of an Int (shapes, flags).
    package static func int(_ value: Int) -> KernelArgument { .int32(Int32(value)) }
    /// `.int64` of an Int (element counts).
    package static func count(_ value: Int) -> KernelArgument { .int64(Int64(value)) }

    /// Calls `body` with an array of pointers to each argument's value, as `cuLaunchKernel`'s
    /// `kernelParams` wants them (and the emulation's wrappers read them).
    package static func withParameterPointers<R>(_ arguments: [KernelArgument],
                                         _ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws -> R) rethrows -> R {
        // 8 bytes per argument holds any of the four types.
        let values = UnsafeMutableRawPointer.allocate(byteCount: max(arguments.count, 1) * 8, alignment: 8)
        defer { values.deallocate() }
        var pointers = [UnsafeMutableRawPointer?](repeating: nil, count: max(arguments.count, 1))
        for (i, argument) in arguments.enumerated() {
            let slot = values + i * 8
            switch argument {
            case .pointer(let p): slot.storeBytes(of: p, as: UInt64.self)
            case .float(let f): slot.storeBytes(of: f, as: Float.self)
            case .int32(let v): slot.storeBytes(of: v, as: Int32.self)
            case .int64(let v): slot.storeBytes(of: v, as: Int64.self)
            }
            pointers[i] = slot
        }
        return try pointers.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }
}

/// The runtime on a GPU: the driver API, and `CUDAKernels` compiled by NVRTC for the device's
/// compute capability (cached on disk) and loaded once.
package final class CUDADeviceRuntime: CUDARuntime, @unchecked Sendable {
    package let driver: CUDADriver
    private let functions: [String: OpaquePointer]
    /// Threads per block, and the most blocks a launch gets (grid-stride loops do the rest).
    private let block = 256, maxBlocks: Int

    package init(libraries: CUDALibraries) throws {
        driver = try CUDADriver(libraries)
        let nvrtc = try NVRTC(libraries)
        let cubin = try nvrtc.cubin(CUDAKernels.source, name: "kernels", capability: driver.computeCapability, options: CUDAKernels.options)
        functions = try driver.functions(CUDAKernels.names, inCubin: cubin)
        maxBlocks = driver.multiprocessors * 16
    }

    package var name: String { driver.name }

    /// A CUDA context is current per thread, and the first op may come from any thread (the
    /// trainer's, a test's, a Swift task's). Setting it is a thread-local store, so every entry
    /// point does it.
    package func makeCurrent() throws { try driver.check(driver.ctxSetCurrent(driver.context), "cuCtxSetCurrent") }

    package func allocate(bytes: Int) throws -> CUDADriver.DevicePointer {
        try makeCurrent()
        return try driver.allocate(bytes: bytes)
    }

    /// Only when the caching allocator empties its cache: after the queued work that may
    /// still use the block (cuMemFree does not promise to wait for it).
    package func free(_ pointer: CUDADriver.DevicePointer) {
        _ = try? synchronize()
        driver.free(pointer)
    }

    package func upload(_ source: UnsafeRawPointer, bytes: Int, to destination: CUDADriver.DevicePointer) throws {
        try makeCurrent()
        try driver.check(driver.memcpyHtoD(destination, source, bytes), "cuMemcpyHtoD of \(bytes) bytes")
    }

    package func download(_ destination: UnsafeMutableRawPointer, bytes: Int, from source: CUDADriver.DevicePointer) throws {
        try makeCurrent()
        try driver.check(driver.memcpyDtoH(destination, source, bytes), "cuMemcpyDtoH of \(bytes) bytes")
    }

    package func copy(bytes: Int, from source: CUDADriver.DevicePointer, to destination: CUDADriver.DevicePointer) throws {
        try makeCurrent()
        try driver.check(driver.memcpyDtoD(destination, source, bytes), "cuMemcpyDtoD of \(bytes) bytes")
    }

    package func launch(_ name: String, elements: Int, _ arguments: [KernelArgument]) throws {
        guard let function = functions[name] else { throw CUDAError("no CUDA kernel named \(name)") }
        guard elements > 0 else { return }
        let blocks = UInt32(min((elements + block - 1) / block, maxBlocks))
        try makeCurrent()
        try KernelArgument.withParameterPointers(arguments) { parameters in
            try driver.check(driver.launchKernel(function, blocks, 1, 1, UInt32(block), 1, 1, 0, nil, parameters, nil),
                             "cuLaunchKernel(\(name), \(elements) elements)")
        }
    }

    package func synchronize() throws {
        try makeCurrent()
        try driver.synchronize()
    }
}
