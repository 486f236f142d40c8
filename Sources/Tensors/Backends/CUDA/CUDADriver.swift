import Foundation

/// The CUDA driver API (`libcuda.so.1`), the functions we call, declared here with their C
/// types. The driver API, not the runtime's `libcudart`: it needs nothing beyond the driver,
/// and it loads NVRTC's cubins directly (`cuModuleLoadData`).
public final class CUDADriver: @unchecked Sendable {
    public typealias DevicePointer = UInt64
    typealias Result = Int32
    typealias Handle = OpaquePointer

    let initialize: @convention(c) (UInt32) -> Result
    let driverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Result
    let deviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> Result
    let deviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Result
    let deviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Result
    let deviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Result
    let deviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Int32) -> Result
    let primaryCtxRetain: @convention(c) (UnsafeMutablePointer<Handle?>, Int32) -> Result
    let ctxSetCurrent: @convention(c) (Handle?) -> Result
    let ctxSynchronize: @convention(c) () -> Result
    let memAlloc: @convention(c) (UnsafeMutablePointer<DevicePointer>, Int) -> Result
    let memFree: @convention(c) (DevicePointer) -> Result
    let memcpyHtoD: @convention(c) (DevicePointer, UnsafeRawPointer, Int) -> Result
    let memcpyDtoH: @convention(c) (UnsafeMutableRawPointer, DevicePointer, Int) -> Result
    let memcpyDtoD: @convention(c) (DevicePointer, DevicePointer, Int) -> Result
    let moduleLoadData: @convention(c) (UnsafeMutablePointer<Handle?>, UnsafeRawPointer) -> Result
    let moduleGetFunction: @convention(c) (UnsafeMutablePointer<Handle?>, Handle, UnsafePointer<CChar>) -> Result
    let launchKernel: @convention(c) (Handle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Handle?,
                                       UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Result
    let getErrorString: @convention(c) (Result, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Result

    /// The device this process computes on (ordinal 0) and its primary context, made current.
    public let device: Int32
    let context: Handle

    /// CUdevice_attribute values (cuda.h).
    enum Attribute: Int32 {
        case multiprocessorCount = 16
        case computeCapabilityMajor = 75
        case computeCapabilityMinor = 76
    }

    public init(_ libraries: CUDALibraries) throws {
        let lib = CUDALibraries.driver
        initialize = try libraries.symbol("cuInit", in: lib)
        driverGetVersion = try libraries.symbol("cuDriverGetVersion", in: lib)
        deviceGetCount = try libraries.symbol("cuDeviceGetCount", in: lib)
        deviceGet = try libraries.symbol("cuDeviceGet", in: lib)
        deviceGetName = try libraries.symbol("cuDeviceGetName", in: lib)
        deviceGetAttribute = try libraries.symbol("cuDeviceGetAttribute", in: lib)
        deviceTotalMem = try libraries.symbol("cuDeviceTotalMem_v2", in: lib)
        primaryCtxRetain = try libraries.symbol("cuDevicePrimaryCtxRetain", in: lib)
        ctxSetCurrent = try libraries.symbol("cuCtxSetCurrent", in: lib)
        ctxSynchronize = try libraries.symbol("cuCtxSynchronize", in: lib)
        memAlloc = try libraries.symbol("cuMemAlloc_v2", in: lib)
        memFree = try libraries.symbol("cuMemFree_v2", in: lib)
        memcpyHtoD = try libraries.symbol("cuMemcpyHtoD_v2", in: lib)
        memcpyDtoH = try libraries.symbol("cuMemcpyDtoH_v2", in: lib)
        memcpyDtoD = try libraries.symbol("cuMemcpyDtoD_v2", in: lib)
        moduleLoadData = try libraries.symbol("cuModuleLoadData", in: lib)
        moduleGetFunction = try libraries.symbol("cuModuleGetFunction", in: lib)
        launchKernel = try libraries.symbol("cuLaunchKernel", in: lib)
        getErrorString = try libraries.symbol("cuGetErrorString", in: lib)

        var count: Int32 = 0
        for (call, status) in [("cuInit", initialize(0)), ("cuDeviceGetCount", deviceGetCount(&count))] where status != 0 {
            var text: UnsafePointer<CChar>?
            _ = getErrorString(status, &text)
            throw CUDAError("the NVIDIA driver loaded but found no usable GPU (\(call): \(text.map { String(cString: $0) } ?? "CUresult \(status)"))")
        }
        guard count > 0 else { throw CUDAError("the NVIDIA driver loaded but reports no GPU (cuDeviceGetCount: 0)") }
        var device: Int32 = 0, context: Handle?
        var status = deviceGet(&device, 0)
        if status == 0 { status = primaryCtxRetain(&context, device) }
        if status == 0 { status = ctxSetCurrent(context) }
        guard status == 0, let context else { throw CUDAError("cuDevicePrimaryCtxRetain failed with CUresult \(status)") }
        (self.device, self.context) = (device, context)
    }

    /// Throws the driver's description of `status` unless it is CUDA_SUCCESS.
    func check(_ status: Result, _ call: @autoclosure () -> String) throws {
        guard status != 0 else { return }
        var text: UnsafePointer<CChar>?
        _ = getErrorString(status, &text)
        throw CUDAError("\(call()) failed: \(text.map { String(cString: $0) } ?? "CUresult \(status)")")
    }

    public var name: String {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = deviceGetName(&buffer, 256, device)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func attribute(_ attribute: Attribute) -> Int {
        var value: Int32 = 0
        _ = deviceGetAttribute(&value, attribute.rawValue, device)
        return Int(value)
    }

    /// Compute capability as major * 10 + minor (90 on H100/H200), NVRTC's `sm_XX`.
    public var computeCapability: Int { attribute(.computeCapabilityMajor) * 10 + attribute(.computeCapabilityMinor) }
    public var multiprocessors: Int { attribute(.multiprocessorCount) }
    public var totalMemory: Int {
        var bytes = 0
        _ = deviceTotalMem(&bytes, device)
        return bytes
    }
    /// The driver's CUDA version as major * 1000 + minor * 10 (13000 for CUDA 13.0).
    public var driverVersion: Int {
        var version: Int32 = 0
        _ = driverGetVersion(&version)
        return Int(version)
    }

    // MARK: Memory and kernels

    public func allocate(bytes: Int) throws -> DevicePointer {
        var pointer: DevicePointer = 0
        try check(memAlloc(&pointer, max(bytes, 1)), "cuMemAlloc of \(bytes) bytes")
        return pointer
    }

    public func free(_ pointer: DevicePointer) { _ = memFree(pointer) }

    public func copy(_ values: [Float], to pointer: DevicePointer) throws {
        try values.withUnsafeBytes { try check(memcpyHtoD(pointer, $0.baseAddress!, $0.count), "cuMemcpyHtoD of \($0.count) bytes") }
    }

    public func floats(_ count: Int, from pointer: DevicePointer) throws -> [Float] {
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBytes { try check(memcpyDtoH($0.baseAddress!, pointer, $0.count), "cuMemcpyDtoH of \($0.count) bytes") }
        return values
    }

    /// The kernel `name` of a cubin (NVRTC's output).
    public func function(_ name: String, inCubin cubin: [UInt8]) throws -> OpaquePointer {
        try functions([name], inCubin: cubin)[name]!
    }

    /// The kernels `names` of one cubin, loaded as one module.
    func functions(_ names: [String], inCubin cubin: [UInt8]) throws -> [String: OpaquePointer] {
        var module: Handle?
        try cubin.withUnsafeBytes { try check(moduleLoadData(&module, $0.baseAddress!), "cuModuleLoadData") }
        var functions: [String: OpaquePointer] = [:]
        for name in names {
            var function: Handle?
            try check(moduleGetFunction(&function, module!, name), "cuModuleGetFunction(\(name))")
            functions[name] = function!
        }
        return functions
    }

    /// Launches `function` on the default stream; `arguments` are pointers to each argument.
    public func launch(_ function: OpaquePointer, grid: UInt32, block: UInt32, arguments: [UnsafeMutableRawPointer?]) throws {
        var arguments = arguments
        try arguments.withUnsafeMutableBufferPointer {
            try check(launchKernel(function, grid, 1, 1, block, 1, 1, 0, nil, $0.baseAddress, nil), "cuLaunchKernel")
        }
    }

    public func synchronize() throws { try check(ctxSynchronize(), "cuCtxSynchronize") }
}
