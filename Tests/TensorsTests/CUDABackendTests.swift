import Diagnostics
import Foundation
import Tensors
import XCTest

/// Runs the CUDA backend through its host emulation in this process (no GPU here): must be
/// called before the first use of `Device.cuda`.
func useCUDAEmulation() {
    CUDAHostEmulation.register()
    setenv("TRICKS_CUDA_EMULATION", "1", 1)
}

/// The CUDA backend's own code without a GPU: its kernels compiled for the host and run one
/// thread after another (`CUDAHostEmulation`), against the CPU's arithmetic. The op-by-op
/// comparisons with the reference backend are in `BackendOpParityTests`; whole models in
/// `CUDABackendModelTests`. What this cannot check (the driver, PTX, cuDNN, cuBLAS) is what
/// `tricks selftest --device cuda` checks on a GPU.
final class CUDABackendTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        useCUDAEmulation()
    }

    func testKernelSignaturesAreReadFromTheSource() {
        let signatures = CUDAKernels.signatures(of: CUDAKernels.source)
        XCTAssertEqual(signatures.first?.name, "fill_f32")
        XCTAssertEqual(signatures.first?.parameterTypes, ["float *", "float", "long long"])
        XCTAssertEqual(signatures.first { $0.name == "mixup_f32" }?.parameterTypes,
                       ["float *", "const float *", "const int *", "float", "long long", "long long"])
        XCTAssertEqual(Set(signatures.map(\.name)).count, signatures.count, "kernel names are unique")
        XCTAssertTrue(CUDAKernels.names.contains("sgd_step_f32"))
    }

    func testTheEmulationRunsOnThisMachine() throws {
        XCTAssertEqual(try Tensor(shape: [2], scalars: [1, -2], device: .cuda).scalars, [1, -2])
        XCTAssertFalse(CUDABackend.shared.hasGPU, "the emulation is not a GPU: --device auto must not pick it")
        XCTAssertEqual(Device.auto, .cpu)
    }

    /// Values around the rounding boundaries of both 16-bit types, ties included.
    private func awkwardValues() -> [Float] {
        var values: [Float] = [0, -0, 1, -1, 65504, 65520, 1e-8, 6e-5, 3.4e38, .infinity, -.infinity, 1.00390625, 1.01171875, 1.0009765625]
        var generator = SeededGenerator(seed: 5)
        values += (0..<200).map { _ in Float.random(in: -300..<300, using: &generator) }
        return values
    }

    func testConversionsRoundAsTheHostDoes() throws {
        let values = awkwardValues()
        let x = try Tensor(shape: [values.count], scalars: values, device: .cuda)
        for type in [DataType.bfloat16, .float16] {
            let expected = values.map { rounded($0, to: type) }
            XCTAssertEqual(try x.converted(to: type).scalars, expected, "\(type) round trip")
            let copy = try Tensor(shape: [values.count], scalars: values, device: .cuda)
            try CUDABackend.shared.roundInPlace(copy, to: type)
            XCTAssertEqual(try copy.scalars, expected, "\(type) in place")
        }
        let nan = try Tensor(shape: [1], scalars: [.nan], device: .cuda)
        XCTAssertTrue(try nan.converted(to: .bfloat16).scalars[0].isNaN)
    }

    func testMixupKernelBlendsRowsWithTheirPermutation() throws {
        let (rows, size) = (3, 5)
        let values = (0..<rows * size).map { Float($0) }
        let x = try Tensor(shape: [rows, size], scalars: values, device: .cuda)
        let backend = CUDABackend.shared
        let y = try backend.empty([rows, size])
        let perm = try CUDAStorage(byteCount: rows * 4, allocator: backend.context().allocator)
        try [Int32(2), 0, 1].withUnsafeBytes { try backend.runtime.upload($0.baseAddress!, bytes: 12, to: perm.block.pointer) }
        try backend.launch("mixup_f32", rows * size, .pointer(y.devicePointer), .pointer(x.devicePointer), .pointer(perm.block.pointer),
                           .float(0.25), .count(size), .count(rows * size))
        let expected = (0..<rows * size).map { i in 0.25 * values[i] + 0.75 * values[[2, 0, 1][i / size] * size + i % size] }
        XCTAssertEqual(try y.scalars, expected)
    }

    /// The fused kernel against `SGD`'s host loops is in OptimTests; here the cross-entropy's
    /// two ways of getting the same gradient agree (the kernel's row loop against autograd on the CPU).
    func testCrossEntropyWithSoftTargetsAndTargetGradient() throws {
        var generator = SeededGenerator(seed: 9)
        let logits = try Tensor.randn([4, 7], using: &generator), target = try Tensor.uniform([4, 7], low: 0, high: 1, using: &generator)
        var grads: [[[Float]]] = []
        for device in [Device.cpu, .cuda] {
            let (z, t) = (try logits.to(device), try target.to(device))
            (z.requiresGrad, t.requiresGrad) = (true, true)
            let loss = try crossEntropy(z, target: t)
            try loss.backward()
            grads.append([try loss.scalars, try z.grad!.scalars, try t.grad!.scalars])
        }
        for (a, b) in zip(grads[0], grads[1]) {
            for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5 * max(1, abs(v))) }
        }
    }

    func testAMissingKernelIsNamed() throws {
        XCTAssertThrowsError(try CUDABackend.shared.launch("no_such_kernel", 1)) { error in
            XCTAssertTrue("\(error)".contains("no_such_kernel"), "\(error)")
        }
    }
}
