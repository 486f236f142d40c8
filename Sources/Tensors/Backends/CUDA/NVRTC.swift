import Foundation

/// NVRTC (`libnvrtc.so.13`): CUDA C++ source compiled at run time to a cubin for one compute
/// capability (`sm_90` on H100/H200), cached on disk so that a second run loads it instead
/// (compiling takes about a second per source). Works without a GPU: the cubin is only loaded
/// by `CUDADriver.function`.
public final class NVRTC: @unchecked Sendable {
    typealias Result = Int32
    typealias Program = OpaquePointer

    let createProgram: @convention(c) (UnsafeMutablePointer<Program?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
                                       UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Result
    let compileProgram: @convention(c) (Program, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Result
    let destroyProgram: @convention(c) (UnsafeMutablePointer<Program?>) -> Result
    let getCUBINSize: @convention(c) (Program, UnsafeMutablePointer<Int>) -> Result
    let getCUBIN: @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Result
    let getProgramLogSize: @convention(c) (Program, UnsafeMutablePointer<Int>) -> Result
    let getProgramLog: @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Result
    let getErrorString: @convention(c) (Result) -> UnsafePointer<CChar>?
    let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Result

    /// Where cubins are kept: `$TRICKS_CACHE` or `~/.cache/tricks`, then `cubin/`.
    public let cacheFolder: URL

    public init(_ libraries: CUDALibraries, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let lib = CUDALibraries.nvrtc
        createProgram = try libraries.symbol("nvrtcCreateProgram", in: lib)
        compileProgram = try libraries.symbol("nvrtcCompileProgram", in: lib)
        destroyProgram = try libraries.symbol("nvrtcDestroyProgram", in: lib)
        getCUBINSize = try libraries.symbol("nvrtcGetCUBINSize", in: lib)
        getCUBIN = try libraries.symbol("nvrtcGetCUBIN", in: lib)
        getProgramLogSize = try libraries.symbol("nvrtcGetProgramLogSize", in: lib)
        getProgramLog = try libraries.symbol("nvrtcGetProgramLog", in: lib)
        getErrorString = try libraries.symbol("nvrtcGetErrorString", in: lib)
        nvrtcVersion = try libraries.symbol("nvrtcVersion", in: lib)
        let base = environment["TRICKS_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSTemporaryDirectory()).appendingPathComponent(".cache/tricks")
        cacheFolder = base.appendingPathComponent("cubin")
    }

    /// NVRTC's version, as "13.0".
    public var version: String {
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtcVersion(&major, &minor)
        return "\(major).\(minor)"
    }

    /// The cubin of `source` for compute capability `capability` (90 for sm_90): from the
    /// cache when this source, these options and this NVRTC compiled it before.
    public func cubin(_ source: String, name: String, capability: Int, options extra: [String] = []) throws -> [UInt8] {
        let options = ["--gpu-architecture=sm_\(capability)", "--std=c++17", "-default-device"] + extra
        let key = fnv1a64(([version, name, source] + options).joined(separator: "\u{0}"))
        let file = cacheFolder.appendingPathComponent("\(name)-sm\(capability)-\(String(key, radix: 16)).cubin")
        if let cached = try? Data(contentsOf: file), cached.starts(with: [0x7f, 0x45, 0x4c, 0x46]) { return [UInt8](cached) }
        let binary = try compile(source, name: name, options: options)
        // Atomically: a half-written cubin from an interrupted run must not be loaded later.
        try? FileManager.default.createDirectory(at: cacheFolder, withIntermediateDirectories: true)
        let temporary = cacheFolder.appendingPathComponent(".\(file.lastPathComponent).\(getpid())")
        if (try? Data(binary).write(to: temporary)) != nil { _ = rename(temporary.path, file.path) }
        return binary
    }

    private func compile(_ source: String, name: String, options: [String]) throws -> [UInt8] {
        var program: Program?
        try check(createProgram(&program, source, name + ".cu", 0, nil, nil), "nvrtcCreateProgram(\(name))")
        defer { _ = destroyProgram(&program) }
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let status = cOptions.map { UnsafePointer($0) }.withUnsafeBufferPointer {
            compileProgram(program!, Int32($0.count), $0.baseAddress)
        }
        guard status == 0 else {
            var size = 0
            _ = getProgramLogSize(program!, &size)
            var log = [CChar](repeating: 0, count: max(size, 1))
            _ = getProgramLog(program!, &log)
            throw CUDAError("NVRTC could not compile \(name) (\(options.joined(separator: " "))): "
                            + String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var size = 0
        try check(getCUBINSize(program!, &size), "nvrtcGetCUBINSize(\(name))")
        var bytes = [CChar](repeating: 0, count: size)
        try check(getCUBIN(program!, &bytes), "nvrtcGetCUBIN(\(name))")
        return bytes.map { UInt8(bitPattern: $0) }
    }

    private func check(_ status: Result, _ call: String) throws {
        guard status != 0 else { return }
        throw CUDAError("\(call) failed: \(getErrorString(status).map { String(cString: $0) } ?? "nvrtcResult \(status)")")
    }
}

/// FNV-1a, 64 bits: a stable name for a cached cubin (Swift's `Hasher` is seeded per process).
package func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    return hash
}
