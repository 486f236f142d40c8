import CDNNL
import Foundation
import Tensors

/// The machine's practical FP32 peak: GFLOP/s of oneDNN's sgemm on square matrices large
/// enough to be compute-bound (the best of a few sizes, median of `rounds` each). Whole-step
/// GFLOP/s of a training run is reported against this number.
public enum SgemmPeak {
    public static func measure(sizes: [Int] = [1024, 2048], rounds: Int = 5) throws -> Double {
        var best = 0.0
        for n in sizes {
            var a = [Float](repeating: 0, count: n * n), b = a, c = a
            var rng = SeededGenerator(seed: 3)
            for i in 0..<(n * n) { a[i] = Float(rng.nextNormal()); b[i] = Float(rng.nextNormal()) }
            var times: [Double] = []
            for round in 0..<(rounds + 1) {
                let start = ContinuousClock.now
                let status = dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), Int64(n), Int64(n), Int64(n),
                                        1, &a, Int64(n), &b, Int64(n), 0, &c, Int64(n))
                guard status == dnnl_success else { throw OpError(op: "sgemm", "dnnl_sgemm \(n)x\(n) failed: \(status)") }
                if round > 0 { times.append((ContinuousClock.now - start).seconds) }
            }
            times.sort()
            best = max(best, 2 * Double(n) * Double(n) * Double(n) / times[times.count / 2] / 1e9)
        }
        return best
    }
}
