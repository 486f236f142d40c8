import Tensors
import XCTest

/// Checks one op two ways against its Double reference:
/// - forward: |ours - reference| <= forwardTolerance * (1 + |reference|) elementwise;
/// - gradients: with a random upstream gradient R, the scalar L = sum(op(x) * R) is
///   differentiated by `backward(gradient: R)` in Float32 and by central finite differences of
///   the Double reference (step 1e-3), and each gradient element must satisfy
///   |analytic - numeric| <= 1e-3 + gradientTolerance * |numeric|.
/// Inputs with an index in `differentiable` get requiresGrad and are checked.
func checkOp(_ inputs: [Tensor], differentiable: Set<Int>? = nil,
             forwardTolerance: Double = 1e-4, gradientTolerance: Double = 2e-3,
             file: StaticString = #filePath, line: UInt = #line,
             _ forward: ([Tensor]) throws -> Tensor, reference: ([[Double]]) -> [Double]) throws {
    let checked = differentiable ?? Set(inputs.indices)
    for i in checked { inputs[i].requiresGrad = true }
    let output = try forward(inputs)
    let values = try inputs.map { try $0.scalars.map(Double.init) }
    let expected = reference(values)
    let actual = try output.scalars
    XCTAssertEqual(actual.count, expected.count, "output size", file: file, line: line)
    var worst = 0.0
    for (a, e) in zip(actual, expected) { worst = max(worst, abs(Double(a) - e) / (1 + abs(e))) }
    XCTAssertLessThanOrEqual(worst, forwardTolerance, "forward differs from the reference", file: file, line: line)

    var generator = SeededGenerator(seed: 99)
    let upstream = try Tensor.randn(output.shape, using: &generator)
    let r = try upstream.scalars.map(Double.init)
    try output.backward(gradient: upstream)
    let h = 1e-3
    for i in checked.sorted() {
        guard let grad = inputs[i].grad else { XCTFail("input \(i) got no gradient", file: file, line: line); continue }
        XCTAssertEqual(grad.shape, inputs[i].shape, file: file, line: line)
        let analytic = try grad.scalars
        var failures = 0
        for j in 0..<values[i].count {
            var plus = values, minus = values
            plus[i][j] += h
            minus[i][j] -= h
            let lp = zip(reference(plus), r).map { $0 * $1 }.reduce(0, +)
            let lm = zip(reference(minus), r).map { $0 * $1 }.reduce(0, +)
            let numeric = (lp - lm) / (2 * h)
            if abs(Double(analytic[j]) - numeric) > 1e-3 + gradientTolerance * abs(numeric) {
                failures += 1
                if failures <= 3 {
                    XCTFail("input \(i) element \(j): analytic \(analytic[j]) vs numeric \(numeric)", file: file, line: line)
                }
            }
        }
    }
}

/// Random uniform [-1, 1) values of `shape`.
func random(_ shape: [Int], seed: UInt64) throws -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return try Tensor.uniform(shape, low: -1, high: 1, using: &generator)
}

/// Distinct values 0.02 apart in random order, so that max and ReLU have no ties or values
/// within a finite-difference step of a kink.
func distinct(_ shape: [Int], seed: UInt64) throws -> Tensor {
    var generator = SeededGenerator(seed: seed)
    let n = shape.reduce(1, *)
    let values = (0..<n).shuffled(using: &generator).map { Float($0 - n / 2) * 0.02 + 0.01 }
    return try Tensor(shape: shape, scalars: values)
}

/// The same values in oneDNN's nChw8c blocked layout.
func blocked(_ x: Tensor) throws -> Tensor {
    try x.reordered(to: MemoryDescriptor.nChw8c(x.shape))
}
