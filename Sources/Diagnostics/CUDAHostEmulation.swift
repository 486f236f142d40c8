import Foundation
import Tensors

/// The CUDA backend's runtime without a GPU, for tests (`TRICKS_CUDA_EMULATION=1`): the
/// kernels of `CUDAKernels.source` compiled for the host by clang++ (the Swift toolchain's),
/// with a prelude that defines CUDA's built-ins, and run one thread after another over a small
/// grid; device memory is host memory. Every kernel there is a grid-stride loop whose indices
/// are independent, so running the threads in turn computes what the GPU computes (up to the
/// order of atomicAdd's sums). What this cannot check: the driver, NVRTC's code generation,
/// PTX's conversions (replaced by the host's round-to-nearest-even), cuDNN and cuBLAS (whose
/// ops the backend then hands to the CPU backend), and timing.
package final class CUDAHostEmulation: CUDARuntime, @unchecked Sendable {
    private typealias Wrapper = @convention(c) (UInt32, UInt32, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Void
    private let wrappers: [String: Wrapper]
    private let lock = NSLock()

    package init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let library = try Self.build(CUDAKernels.source, environment: environment)
        guard let handle = dlopen(library.path, RTLD_NOW | RTLD_LOCAL) else {
            throw CUDAError("cannot load the emulated kernels \(library.path): \(String(cString: dlerror()))")
        }
        var wrappers: [String: Wrapper] = [:]
        for signature in CUDAKernels.signatures(of: CUDAKernels.source) {
            guard let symbol = dlsym(handle, "tricks_emulate_" + signature.name) else {
                throw CUDAError("the emulated kernels in \(library.path) lack \(signature.name)")
            }
            wrappers[signature.name] = unsafeBitCast(symbol, to: Wrapper.self)
        }
        self.wrappers = wrappers
    }

    /// Makes `TRICKS_CUDA_EMULATION=1` run the CUDA backend on this emulation, in this process.
    /// Call before the first CUDA op: the backend reads the variable once, when first used.
    public static func register() {
        CUDABackend.emulation.register { try CUDAHostEmulation(environment: $0) }
    }

    package var name: String { "host emulation of the CUDA kernels (no GPU)" }

    package func allocate(bytes: Int) throws -> CUDADriver.DevicePointer {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 256, max(bytes, 1)) == 0, let raw else { throw CUDAError("out of memory allocating \(bytes) bytes") }
        // Fresh device memory holds garbage: so does this, so that a kernel that reads before
        // writing shows up in the tests.
        memset(raw, 0xA5, max(bytes, 1))
        return CUDADriver.DevicePointer(UInt(bitPattern: raw))
    }

    package func free(_ pointer: CUDADriver.DevicePointer) { Foundation.free(Self.address(pointer)) }

    package func upload(_ source: UnsafeRawPointer, bytes: Int, to destination: CUDADriver.DevicePointer) throws {
        Self.address(destination).copyMemory(from: source, byteCount: bytes)
    }

    package func download(_ destination: UnsafeMutableRawPointer, bytes: Int, from source: CUDADriver.DevicePointer) throws {
        destination.copyMemory(from: Self.address(source), byteCount: bytes)
    }

    package func copy(bytes: Int, from source: CUDADriver.DevicePointer, to destination: CUDADriver.DevicePointer) throws {
        memmove(Self.address(destination), Self.address(source), bytes)
    }

    /// Three blocks of four threads at most: enough to exercise the grid-stride indexing.
    package func launch(_ name: String, elements: Int, _ arguments: [KernelArgument]) throws {
        guard let wrapper = wrappers[name] else { throw CUDAError("no CUDA kernel named \(name)") }
        guard elements > 0 else { return }
        let block = 4, grid = min((elements + block - 1) / block, 3)
        // One launch at a time: the prelude's blockIdx/threadIdx are globals.
        lock.lock()
        defer { lock.unlock() }
        KernelArgument.withParameterPointers(arguments) { wrapper(UInt32(grid), UInt32(block), $0) }
    }

    package func synchronize() throws {}
    package func makeCurrent() throws {}

    private static func address(_ pointer: CUDADriver.DevicePointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(pointer))!
    }

    // MARK: Building

    /// CUDA's built-ins for a host compiler, with one thread running at a time.
    static let prelude = #"""
    #define TRICKS_HOST_EMULATION 1
    #define __global__ static
    #define __device__
    #define __forceinline__ inline
    extern "C" float expf(float); extern "C" float logf(float);
    extern "C" float fmaxf(float, float); extern "C" float fminf(float, float);
    struct Index { unsigned int x; };
    static Index blockIdx, threadIdx, blockDim, gridDim;
    static inline float __int_as_float(int v) { float f; __builtin_memcpy(&f, &v, 4); return f; }
    static inline float __uint_as_float(unsigned int v) { float f; __builtin_memcpy(&f, &v, 4); return f; }
    static inline unsigned int __float_as_uint(float f) { unsigned int v; __builtin_memcpy(&v, &f, 4); return v; }
    static inline float atomicAdd(float *p, float v) { float old = *p; *p = old + v; return old; }
    static inline int min(int a, int b) { return a < b ? a : b; }

    """#

    /// `source` with the prelude, and per kernel an `extern "C"` wrapper that takes
    /// `cuLaunchKernel`-style parameter pointers and runs every (block, thread) in turn.
    static func emulationSource(_ source: String) -> String {
        let wrappers = CUDAKernels.signatures(of: source).map { s in
            let arguments = s.parameterTypes.enumerated().map { "*(\($1) *)p[\($0)]" }.joined(separator: ", ")
            return """
            extern "C" void tricks_emulate_\(s.name)(unsigned int grid, unsigned int block, void **p) {
                gridDim.x = grid; blockDim.x = block;
                for (unsigned int b = 0; b < grid; b++)
                    for (unsigned int t = 0; t < block; t++) { blockIdx.x = b; threadIdx.x = t; \(s.name)(\(arguments)); }
            }
            """
        }
        return prelude + source + "\n" + wrappers.joined(separator: "\n") + "\n"
    }

    /// The shared library of `source`'s emulation, compiled once per source into
    /// `$TRICKS_CACHE/emulation` (or ~/.cache/tricks), written atomically.
    static func build(_ source: String, environment: [String: String]) throws -> URL {
        let text = emulationSource(source)
        let base = environment["TRICKS_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSTemporaryDirectory()).appendingPathComponent(".cache/tricks")
        let folder = base.appendingPathComponent("emulation")
        let library = folder.appendingPathComponent("kernels-\(String(fnv1a64(text), radix: 16)).so")
        if FileManager.default.fileExists(atPath: library.path) { return library }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let stem = folder.appendingPathComponent(".kernels-\(getpid())")
        let (cpp, temporary) = (stem.appendingPathExtension("cpp"), stem.appendingPathExtension("so"))
        defer { try? FileManager.default.removeItem(at: cpp) }
        try text.write(to: cpp, atomically: true, encoding: .utf8)
        let compiler = try findCompiler(environment: environment)
        let process = Process()
        process.executableURL = compiler
        process.arguments = ["-x", "c++", "-std=c++17", "-O1", "-shared", "-fPIC", "-o", temporary.path, cpp.path, "-lm"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CUDAError("\(compiler.path) could not compile the emulated kernels (\(cpp.path)): \(log)")
        }
        guard rename(temporary.path, library.path) == 0 else { throw CUDAError("cannot move \(temporary.path) to \(library.path)") }
        return library
    }

    /// `$CXX`, else clang++ on PATH, else the one beside `swift`.
    private static func findCompiler(environment: [String: String]) throws -> URL {
        var candidates = environment["CXX"].map { [$0] } ?? []
        let path = (environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        candidates += path.map { $0 + "/clang++" }
        candidates += path.map { $0 + "/swift" }.filter { FileManager.default.isExecutableFile(atPath: $0) }.map {
            URL(fileURLWithPath: $0).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("clang++").path
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CUDAError("the CUDA emulation needs a C++ compiler: set CXX or put clang++ on PATH")
        }
        return URL(fileURLWithPath: found)
    }
}
