import DNNL
import Tensors
import XCTest

final class BatchNormTests: XCTestCase {
    func check(shape: [Int], training: Bool, fusedReLU: Bool, blockedInput: Bool = false,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let c = shape[1]
        // Spaced values keep fused-ReLU outputs away from the kink for finite differences.
        var x = try distinct(shape, seed: 11)
        if blockedInput { x = try blocked(x) }
        let gamma = try random([c], seed: 12), beta = try random([c], seed: 13)
        let runningMean = try random([c], seed: 14)
        var generator = SeededGenerator(seed: 15)
        let runningVar = try Tensor.uniform([c], low: 0.5, high: 1.5, using: &generator)
        let stats = (try runningMean.scalars.map(Double.init), try runningVar.scalars.map(Double.init))
        try checkOp([x, gamma, beta], file: file, line: line) { t in
            try batchNorm(t[0], weight: t[1], bias: t[2], runningMean: runningMean.copy(to: runningMean.descriptor),
                          runningVar: runningVar.copy(to: runningVar.descriptor), training: training, fusedReLU: fusedReLU)
        } reference: { v in
            Reference.batchNorm(v[0], shape, gamma: v[1], beta: v[2], mean: training ? nil : stats.0,
                                variance: training ? nil : stats.1, eps: 1e-5, relu: fusedReLU).y
        }
    }

    func testTraining4D() throws { try check(shape: [3, 5, 4, 3], training: true, fusedReLU: false) }
    func testTrainingFusedReLU() throws { try check(shape: [3, 5, 4, 3], training: true, fusedReLU: true) }
    func testTrainingBlocked() throws { try check(shape: [2, 16, 3, 3], training: true, fusedReLU: true, blockedInput: true) }
    func testTraining2D() throws { try check(shape: [6, 4], training: true, fusedReLU: false) }
    func testInference() throws { try check(shape: [2, 5, 3, 4], training: false, fusedReLU: false) }
    func testInferenceFusedReLUBlocked() throws { try check(shape: [2, 8, 3, 4], training: false, fusedReLU: true, blockedInput: true) }

    func testRunningStatisticsFollowPyTorch() throws {
        let shape = [4, 3, 5, 2]
        let x = try random(shape, seed: 21)
        let runningMean = try Tensor.full([3], 0.5), runningVar = try Tensor.full([3], 2)
        _ = try batchNorm(x, weight: Tensor.full([3], 1), bias: Tensor.zeros([3]), runningMean: runningMean,
                          runningVar: runningVar, training: true, momentum: 0.1)
        let batch = Reference.batchNorm(try x.scalars.map(Double.init), shape, gamma: [1, 1, 1], beta: [0, 0, 0],
                                        mean: nil, variance: nil, eps: 1e-5, relu: false)
        let n = Double(4 * 5 * 2)
        for c in 0..<3 {
            XCTAssertEqual(Double(try runningMean.scalars[c]), 0.9 * 0.5 + 0.1 * batch.mean[c], accuracy: 1e-5)
            XCTAssertEqual(Double(try runningVar.scalars[c]), 0.9 * 2 + 0.1 * batch.variance[c] * n / (n - 1), accuracy: 1e-5)
        }
    }

    func testInferenceLeavesRunningStatisticsAlone() throws {
        let runningMean = try Tensor.full([3], 0.5), runningVar = try Tensor.full([3], 2)
        _ = try batchNorm(try random([2, 3, 4, 4], seed: 1), weight: Tensor.full([3], 1), bias: Tensor.zeros([3]),
                          runningMean: runningMean, runningVar: runningVar, training: false)
        XCTAssertEqual(try runningMean.scalars, [0.5, 0.5, 0.5])
        XCTAssertEqual(try runningVar.scalars, [2, 2, 2])
    }

    func testWrongParameterShapeIsAnError() throws {
        XCTAssertThrowsError(try batchNorm(random([2, 3, 4, 4], seed: 1), weight: Tensor.full([4], 1), bias: Tensor.zeros([3]),
                                           runningMean: Tensor.zeros([3]), runningVar: Tensor.full([3], 1), training: true)) {
            XCTAssertTrue("\($0)".contains("batch_norm") && "\($0)".contains("[4]"), "\($0)")
        }
    }
}
