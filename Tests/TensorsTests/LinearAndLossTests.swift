import Tensors
import XCTest

final class LinearAndLossTests: XCTestCase {
    func testLinearWithBias() throws {
        let (xs, ws) = ([5, 7], [3, 7])
        try checkOp([try random(xs, seed: 61), try random(ws, seed: 62), try random([3], seed: 63)]) { t in
            try linear(t[0], weight: t[1], bias: t[2])
        } reference: { v in Reference.linear(v[0], xs, v[1], ws, v[2]) }
    }

    func testLinearWithoutBias() throws {
        let (xs, ws) = ([4, 9], [6, 9])
        try checkOp([try random(xs, seed: 64), try random(ws, seed: 65)]) { t in try linear(t[0], weight: t[1]) } reference: { v in
            Reference.linear(v[0], xs, v[1], ws, nil)
        }
    }

    func testLinearFeatureMismatchIsAnError() throws {
        XCTAssertThrowsError(try linear(random([4, 9], seed: 1), weight: random([6, 8], seed: 2))) {
            XCTAssertTrue("\($0)".contains("linear") && "\($0)".contains("[4, 9]") && "\($0)".contains("[6, 8]"), "\($0)")
        }
    }

    func testLogSoftmax() throws {
        try checkOp([try random([4, 6], seed: 66)]) { try logSoftmax($0[0]) } reference: { Reference.logSoftmax($0[0], width: 6) }
    }

    func testCrossEntropyWithSoftTargetsDifferentiatesBothArguments() throws {
        var generator = SeededGenerator(seed: 67)
        // Rows of a teacher-like distribution (positive, summing to 1) for the target.
        let raw = try Tensor.uniform([4, 5], low: 0.1, high: 1, using: &generator).scalars
        var rows = [Float]()
        for r in 0..<4 {
            let row = Array(raw[r * 5 ..< r * 5 + 5])
            let total = row.reduce(0, +)
            rows += row.map { $0 / total }
        }
        let target = try Tensor(shape: [4, 5], scalars: rows)
        try checkOp([try random([4, 5], seed: 68), target]) { t in try crossEntropy(t[0], target: t[1]) } reference: { v in
            [Reference.crossEntropy(v[0], v[1], width: 5)]
        }
    }

    func testCrossEntropyWithLabelsMatchesHandComputedValue() throws {
        let logits = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 0, 0, 0])
        let loss = try crossEntropy(logits, labels: [2, 0]).item()
        let first: Double = -3 + log(exp(1.0) + exp(2.0) + exp(3.0))
        let expected = (first + log(3.0)) / 2
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-6)
    }

    func testCrossEntropyRejectsOutOfRangeLabel() throws {
        XCTAssertThrowsError(try crossEntropy(random([2, 3], seed: 1), labels: [0, 3])) {
            XCTAssertTrue("\($0)".contains("label 3"), "\($0)")
        }
    }

    func testSumAndMean() throws {
        try checkOp([try blocked(random([2, 3, 2, 2], seed: 69))]) { try sum($0[0]) } reference: { [$0[0].reduce(0, +)] }
        try checkOp([try random([5, 4], seed: 70)]) { try mean($0[0]) } reference: { [$0[0].reduce(0, +) / 20] }
    }

    func testArgmaxAndTopK() throws {
        let x = try Tensor(shape: [2, 4], scalars: [0.1, 0.9, 0.3, 0.9, 4, 3, 2, 1])
        XCTAssertEqual(try argmax(x), [1, 0])
        XCTAssertEqual(try topK(x, k: 3), [[1, 3, 2], [0, 1, 2]])
        XCTAssertThrowsError(try topK(x, k: 5))
    }
}
