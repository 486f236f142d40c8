import Foundation

/// cuBLAS 13 (`libcublas.so.13`), the functions the fully connected layer calls, with their C
/// types. Column-major, as BLAS: a row-major [rows, cols] matrix is its column-major transpose.
final class CuBLAS: @unchecked Sendable {
    typealias Status = Int32
    typealias Handle = OpaquePointer
    /// cublasOperation_t
    static let none: Int32 = 0, transpose: Int32 = 1

    let create: @convention(c) (UnsafeMutablePointer<Handle?>) -> Status
    /// C = alpha * op(A) op(B) + beta * C: (handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc).
    let sgemm: @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UnsafeRawPointer?, Int32,
                               UnsafeRawPointer?, Int32, UnsafePointer<Float>, UnsafeMutableRawPointer?, Int32) -> Status
    let handle: Handle

    init(_ libraries: CUDALibraries) throws {
        let lib = CUDALibraries.cublas
        create = try libraries.symbol("cublasCreate_v2", in: lib)
        sgemm = try libraries.symbol("cublasSgemm_v2", in: lib)
        var handle: Handle?
        let status = create(&handle)
        guard status == 0, let handle else { throw CUDAError("cublasCreate_v2 failed with cublasStatus \(status)") }
        self.handle = handle
    }

    /// Row-major C[m, n] = op(A) op(B) for row-major A and B, where `transposeA` means A is
    /// stored [k, m] (else [m, k]) and `transposeB` B stored [n, k] (else [k, n]). Float32
    /// with cuBLAS's default math (no TF32).
    func multiply(_ a: CUDADriver.DevicePointer, _ b: CUDADriver.DevicePointer, into c: CUDADriver.DevicePointer,
                  m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) throws {
        // Row-major C = A B is column-major C^T = B^T A^T: swap the operands, keep the flags.
        var (alpha, beta): (Float, Float) = (1, 0)
        let status = sgemm(handle, transposeB ? CuBLAS.transpose : CuBLAS.none, transposeA ? CuBLAS.transpose : CuBLAS.none,
                           Int32(n), Int32(m), Int32(k), &alpha, address(b), Int32(transposeB ? k : n),
                           address(a), Int32(transposeA ? m : k), &beta, address(c), Int32(n))
        guard status == 0 else { throw CUDAError("cublasSgemm_v2 (\(m)x\(k) by \(k)x\(n)) failed with cublasStatus \(status)") }
    }
}
