import Foundation
import Tensors

/// What `tricks env --cuda` reports, step by step, each checked against the CPU where it
/// computes: the libraries and where they were found; NVRTC compiling a kernel to a cubin;
/// the driver, the GPU and that kernel run on it; cuDNN's forward convolution (plain, strided,
/// dilated, grouped) from Swift beside the CPU backend's. The first things a GPU machine must
/// show before a backend is built on them; a step that cannot run says why in one line.
public struct CUDACheck {
    public struct Step: Sendable {
        public let name: String
        /// nil: not run (an earlier step it needs failed, or nothing to check).
        public let passed: Bool?
        public let detail: String
    }

    public private(set) var steps: [Step] = []
    /// Whether every step that ran passed and the GPU ones ran at all.
    public var passed: Bool { !steps.isEmpty && steps.allSatisfy { $0.passed == true } }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        var found: [String: CUDALibraries] = [:]
        for library in CUDALibraries.all {
            switch CUDALibraries.load(library, environment: environment) {
            case .success(let loaded):
                found[library.role] = loaded
                add("load \(library.role)", true, loaded.locations[library.role] ?? "")
            case .failure(let error):
                add("load \(library.role)", false, "\(error)")
            }
        }

        var driver: CUDADriver?
        if let libraries = found[CUDALibraries.driver.role] {
            do {
                let d = try CUDADriver(libraries)
                driver = d
                add("GPU", true, String(format: "%@, compute capability %d.%d, %d multiprocessors, %.1f GiB; driver's CUDA %d.%d", d.name,
                                        d.computeCapability / 10, d.computeCapability % 10, d.multiprocessors,
                                        Double(d.totalMemory) / 1_073_741_824, d.driverVersion / 1000, d.driverVersion % 1000 / 10))
            } catch {
                add("GPU", false, "\(error)")
            }
        }

        var cubin: [UInt8]?
        if let libraries = found[CUDALibraries.nvrtc.role] {
            let capability = driver?.computeCapability ?? 90
            do {
                let nvrtc = try NVRTC(libraries, environment: environment)
                let started = Date()
                cubin = try nvrtc.cubin(CUDACheck.axpySource, name: "axpy", capability: capability)
                add("NVRTC \(nvrtc.version)", true, String(format: "axpy for sm_%d: a %d-byte cubin in %.2f s (compiled, or read from the cache in %@)",
                                                           capability, cubin!.count, Date().timeIntervalSince(started), nvrtc.cacheFolder.path))
            } catch {
                add("NVRTC", false, "\(error)")
            }
        }

        if let driver, let cubin {
            add("kernel", from: { try CUDACheck.runAxpy(driver, cubin: cubin) })
        }

        if let libraries = found[CUDALibraries.cudnn.role] {
            do {
                let cudnn = try CuDNN(libraries)
                add("cuDNN \(cudnn.version)", true, "symbols resolved")
                if let driver {
                    let handle = try cudnn.makeHandle()
                    for (label, shape) in CUDACheck.convolutions {
                        add("cuDNN conv forward, \(label)", from: { try CUDACheck.convolve(shape, cudnn: cudnn, handle: handle, driver: driver) })
                    }
                }
            } catch {
                add("cuDNN", false, "\(error)")
            }
        }

        if let libraries = found[CUDALibraries.cublasLt.role] {
            do {
                let version: @convention(c) () -> Int = try libraries.symbol("cublasLtGetVersion", in: CUDALibraries.cublasLt)
                add("cuBLASLt", true, "version \(dottedVersion(version()))")
            } catch {
                add("cuBLASLt", false, "\(error)")
            }
        }
        if found.count < CUDALibraries.all.count { add("hint", nil, CUDALibraries.hint) }
        if driver == nil { add("GPU steps", nil, "not run: no GPU") }
    }

    private mutating func add(_ name: String, _ passed: Bool?, _ detail: String) {
        steps.append(Step(name: name, passed: passed, detail: detail))
    }

    private mutating func add(_ name: String, from body: () throws -> (Bool, String)) {
        do {
            let (passed, detail) = try body()
            add(name, passed, detail)
        } catch {
            add(name, false, "\(error)")
        }
    }

    /// The report, one line per step.
    public var lines: [String] {
        steps.map { step in
            let mark = step.passed.map { $0 ? "ok  " : "FAIL" } ?? "skip"
            return "\(mark) \(step.name): \(step.detail)"
        }
    }

    // MARK: The checks

    static let axpySource = """
    extern "C" __global__ void axpy(float *y, const float *x, float a, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] = fmaf(a, x[i], y[i]);
    }
    """

    /// y = a x + y on 2^20 elements, on the GPU and here; fmaf on both sides, so equal.
    static func runAxpy(_ driver: CUDADriver, cubin: [UInt8]) throws -> (Bool, String) {
        let n = 1 << 20
        var a: Float = 0.75
        let x = (0..<n).map { Float($0 % 1000) / 7 }, y = (0..<n).map { Float($0 % 333) / 3 }
        let expected = zip(x, y).map { $1.addingProduct(a, $0) }
        let (dx, dy) = (try driver.allocate(bytes: n * 4), try driver.allocate(bytes: n * 4))
        defer { driver.free(dx); driver.free(dy) }
        try driver.copy(x, to: dx)
        try driver.copy(y, to: dy)
        let function = try driver.function("axpy", inCubin: cubin)
        var (py, px, count) = (dy, dx, Int32(n))
        try withUnsafeMutablePointer(to: &py) { py in
            try withUnsafeMutablePointer(to: &px) { px in
                try withUnsafeMutablePointer(to: &a) { pa in
                    try withUnsafeMutablePointer(to: &count) { pn in
                        try driver.launch(function, grid: UInt32((n + 255) / 256), block: 256,
                                          arguments: [UnsafeMutableRawPointer(py), UnsafeMutableRawPointer(px),
                                                      UnsafeMutableRawPointer(pa), UnsafeMutableRawPointer(pn)])
                    }
                }
            }
        }
        try driver.synchronize()
        let result = try driver.floats(n, from: dy)
        let mismatches = zip(result, expected).filter { $0 != $1 }.count
        return (mismatches == 0, "axpy on \(n) floats: \(mismatches) differ from the CPU's fmaf")
    }

    /// [N, C, H, W] input, [O, C/groups, kh, kw] weight, stride, padding, dilation, groups.
    typealias ConvShape = (input: [Int], weight: [Int], stride: Int, padding: Int, dilation: Int, groups: Int)
    static let convolutions: [(String, ConvShape)] = [
        ("3x3", ([2, 8, 12, 12], [16, 8, 3, 3], 1, 1, 1, 1)),
        ("3x3 stride 2", ([2, 8, 13, 13], [16, 8, 3, 3], 2, 1, 1, 1)),
        ("3x3 dilation 2", ([2, 8, 12, 12], [16, 8, 3, 3], 1, 2, 2, 1)),
        ("1x1", ([2, 32, 7, 7], [24, 32, 1, 1], 1, 0, 1, 1)),
        ("depthwise 3x3", ([2, 16, 10, 10], [16, 1, 3, 3], 1, 1, 1, 16)),
    ]

    /// One convolution with cuDNN and with the CPU backend, same inputs; relative max error.
    static func convolve(_ shape: ConvShape, cudnn: CuDNN, handle: OpaquePointer, driver: CUDADriver) throws -> (Bool, String) {
        var generator = SeededGenerator(seed: 7)
        let x = (0..<shape.input.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &generator) }
        let w = (0..<shape.weight.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &generator) }
        let s = shape
        let cpu = try Device.with(.cpu) {
            try conv2d(Tensor(shape: s.input, scalars: x), weight: Tensor(shape: s.weight, scalars: w), stride: (s.stride, s.stride),
                       padding: (s.padding, s.padding), dilation: (s.dilation, s.dilation), groups: s.groups)
        }
        let geometry = try ConvGeometry(input: s.input, weight: s.weight, bias: nil, stride: (s.stride, s.stride),
                                        padding: (s.padding, s.padding), dilation: (s.dilation, s.dilation), groups: s.groups)
        let (dx, dw, dy) = (try driver.allocate(bytes: x.count * 4), try driver.allocate(bytes: w.count * 4),
                            try driver.allocate(bytes: cpu.count * 4))
        defer { [dx, dw, dy].forEach(driver.free) }
        try driver.copy(x, to: dx)
        try driver.copy(w, to: dw)
        let algorithm = try cudnn.convolutionForward(handle: handle, input: dx, weight: dw, output: dy, geometry: geometry, driver: driver)
        try driver.synchronize()
        let gpu = try driver.floats(cpu.count, from: dy), expected = try cpu.scalars
        let scale = expected.map(abs).max() ?? 1
        let error = zip(gpu, expected).map { abs($0 - $1) }.max() ?? 0
        let relative = error / max(scale, 1e-30)
        // 1e-4: FP32 throughout, but cuDNN may choose Winograd or FFT, which round differently.
        return (relative <= 1e-4, String(format: "output %@, algorithm %d, max |cuDNN - CPU| / max |CPU| = %.1e (tolerance 1e-4, FP32 FMA math)",
                                         "\(cpu.shape)", algorithm, relative))
    }
}
