import Foundation
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

/// SyncBatchNorm in a group of one process is training-mode BatchNorm: forward against the
/// naive reference, gradients against finite differences, running statistics as PyTorch's.
/// (Two processes are checked against one with the same global batch in DistributedTests.)
final class SyncBatchNormTests: XCTestCase {
    func check(shape: [Int], fusedReLU: Bool, blockedInput: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let c = shape[1]
        var x = try distinct(shape, seed: 31)
        if blockedInput { x = try blocked(x) }
        let gamma = try random([c], seed: 32), beta = try random([c], seed: 33)
        try checkOp([x, gamma, beta], file: file, line: line) { t in
            try syncBatchNorm(t[0], weight: t[1], bias: t[2], runningMean: Tensor.zeros([c]), runningVar: Tensor.full([c], 1),
                              collective: SingleProcess(), fusedReLU: fusedReLU)
        } reference: { v in
            Reference.batchNorm(v[0], shape, gamma: v[1], beta: v[2], mean: nil, variance: nil, eps: 1e-5, relu: fusedReLU).y
        }
    }

    func testForwardAndGradients() throws { try check(shape: [3, 5, 4, 3], fusedReLU: false) }
    func testFusedReLU() throws { try check(shape: [3, 5, 4, 3], fusedReLU: true) }
    func testBlockedInput() throws { try check(shape: [2, 16, 3, 3], fusedReLU: true, blockedInput: true) }
    func test2D() throws { try check(shape: [6, 4], fusedReLU: false) }

    func testRunningStatisticsEqualBatchNorm() throws {
        let x = try random([4, 3, 5, 2], seed: 21)
        let (mean1, var1, mean2, var2) = (try Tensor.full([3], 0.5), try Tensor.full([3], 2), try Tensor.full([3], 0.5), try Tensor.full([3], 2))
        _ = try batchNorm(x, weight: Tensor.full([3], 1), bias: Tensor.zeros([3]), runningMean: mean1, runningVar: var1, training: true)
        _ = try syncBatchNorm(x, weight: Tensor.full([3], 1), bias: Tensor.zeros([3]), runningMean: mean2, runningVar: var2,
                              collective: SingleProcess())
        for (a, b) in zip(try mean1.scalars + var1.scalars, try mean2.scalars + var2.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    /// Two processes with half the batch each (two threads here) compute, between them, what
    /// BatchNorm computes on the whole batch: outputs and the gradients of the summed losses.
    func testTwoHalvesEqualTheWholeBatch() throws {
        for fusedReLU in [false, true] {
            let (n, c) = (6, 5)
            let x = try distinct([n, c, 3, 4], seed: 41), dy = try random([n, c, 3, 4], seed: 42)
            let gamma = try random([c], seed: 43), beta = try random([c], seed: 44)
            let (gammaValues, betaValues) = (try gamma.scalars, try beta.scalars)
            @Sendable func parameters() throws -> (Tensor, Tensor) {
                (try Tensor(shape: [c], scalars: gammaValues, requiresGrad: true), try Tensor(shape: [c], scalars: betaValues, requiresGrad: true))
            }
            // The whole batch through oneDNN's BatchNorm.
            let whole = try Tensor(shape: x.shape, scalars: x.scalars, requiresGrad: true)
            let (g, b) = try parameters()
            let y = try batchNorm(whole, weight: g, bias: b, runningMean: Tensor.zeros([c]), runningVar: Tensor.full([c], 1),
                                  training: true, fusedReLU: fusedReLU)
            try y.backward(gradient: dy)
            // Each half on its own thread.
            let pair = ThreadPair(), half = n / 2 * c * 12
            let (xs, dys) = (try x.scalars, try dy.scalars)
            let results = Results()
            let threads = (0..<2).map { rank in
                Thread {
                    do {
                        let part = try Tensor(shape: [n / 2, c, 3, 4], scalars: Array(xs[rank * half ..< (rank + 1) * half]), requiresGrad: true)
                        let (g, b) = try parameters()
                        let y = try syncBatchNorm(part, weight: g, bias: b, runningMean: Tensor.zeros([c]), runningVar: Tensor.full([c], 1),
                                                  collective: ThreadPair.Member(pair, rank), fusedReLU: fusedReLU)
                        try y.backward(gradient: Tensor(shape: part.shape, scalars: Array(dys[rank * half ..< (rank + 1) * half])))
                        results.set(rank, [try y.scalars, try part.grad!.scalars, try g.grad!.scalars, try b.grad!.scalars])
                    } catch { results.set(rank, [[.nan]]) }
                }
            }
            threads.forEach { $0.start() }
            let parts = results.wait()
            let expected = [try y.scalars, try whole.grad!.scalars, try g.grad!.scalars, try b.grad!.scalars]
            let got = [parts[0][0] + parts[1][0], parts[0][1] + parts[1][1],
                       zip(parts[0][2], parts[1][2]).map(+), zip(parts[0][3], parts[1][3]).map(+)]
            for (name, (e, a)) in zip(["y", "dx", "dgamma", "dbeta"], zip(expected, got)) {
                XCTAssertEqual(e.count, a.count, name)
                for (p, q) in zip(e, a) { XCTAssertEqual(p, q, accuracy: 1e-4, "\(name), fused ReLU \(fusedReLU)") }
            }
        }
    }

    final class Results: @unchecked Sendable {
        let condition = NSCondition()
        var values: [[[Float]]?] = [nil, nil]
        func set(_ rank: Int, _ v: [[Float]]) { condition.lock(); values[rank] = v; condition.broadcast(); condition.unlock() }
        func wait() -> [[[Float]]] {
            condition.lock(); defer { condition.unlock() }
            while values.contains(where: { $0 == nil }) { condition.wait() }
            return values.map { $0! }
        }
    }

    func testOneValuePerChannelIsAnError() throws {
        XCTAssertThrowsError(try syncBatchNorm(random([1, 3], seed: 1), weight: Tensor.full([3], 1), bias: Tensor.zeros([3]),
                                               runningMean: Tensor.zeros([3]), runningVar: Tensor.full([3], 1), collective: SingleProcess())) {
            XCTAssertTrue("\($0)".contains("sync_batch_norm") && "\($0)".contains("more than one value"), "\($0)")
        }
    }
}

/// Two "processes" as two threads of this one, meeting at every sum.
final class ThreadPair: @unchecked Sendable {
    let condition = NSCondition()
    var deposits: [[Double]?] = [nil, nil]
    var results: [[Double]?] = [nil, nil]

    final class Member: Collective, @unchecked Sendable {
        let pair: ThreadPair, rank: Int
        init(_ pair: ThreadPair, _ rank: Int) { (self.pair, self.rank) = (pair, rank) }
        var size: Int { 2 }
        func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {
            let summed = pair.exchange(Array(values), rank: rank)
            for i in values.indices { values[i] = summed[i] }
        }
        func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
            let summed = pair.exchange(values.map(Double.init), rank: rank)
            for i in values.indices { values[i] = Float(summed[i]) }
        }
        func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws { fatalError("not used") }
    }

    func exchange(_ values: [Double], rank: Int) -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        while deposits[rank] != nil { condition.wait() }
        deposits[rank] = values
        if let a = deposits[0], let b = deposits[1] {
            let sum = zip(a, b).map { $0 + $1 }
            results = [sum, sum]
            deposits = [nil, nil]
            condition.broadcast()
        }
        while results[rank] == nil { condition.wait() }
        let result = results[rank]!
        results[rank] = nil
        return result
    }
}
