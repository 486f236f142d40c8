import Tensors
import XCTest

/// The ops together: a tiny conv net (conv-BN-ReLU, max pool, conv-BN-ReLU, global pool, FC)
/// trained with plain SGD must drive the loss on one fixed batch to near zero.
final class OverfitTests: XCTestCase {
    func testTinyConvNetOverfitsOneBatch() throws {
        var generator = SeededGenerator(seed: 2024)
        let images = try Tensor.randn([8, 1, 12, 12], using: &generator)
        let labels = [0, 1, 2, 3, 0, 1, 2, 3]
        func parameter(_ shape: [Int], std: Float) throws -> Tensor {
            try Tensor.randn(shape, std: std, using: &generator, requiresGrad: true)
        }
        let conv1 = try parameter([16, 1, 3, 3], std: 0.4), conv2 = try parameter([16, 16, 3, 3], std: 0.1)
        let gamma1 = try Tensor.full([16], 1, requiresGrad: true), beta1 = try Tensor.zeros([16], requiresGrad: true)
        let gamma2 = try Tensor.full([16], 1, requiresGrad: true), beta2 = try Tensor.zeros([16], requiresGrad: true)
        let fcWeight = try parameter([4, 16], std: 0.25), fcBias = try Tensor.zeros([4], requiresGrad: true)
        let stats = try (0..<2).map { _ in (try Tensor.zeros([16]), try Tensor.full([16], 1)) }
        let parameters = [conv1, conv2, gamma1, beta1, gamma2, beta2, fcWeight, fcBias]

        func loss() throws -> Tensor {
            var x = try conv2d(images, weight: conv1, padding: (1, 1))
            x = try batchNorm(x, weight: gamma1, bias: beta1, runningMean: stats[0].0, runningVar: stats[0].1, training: true, fusedReLU: true)
            x = try maxPool2d(x, kernel: (2, 2))
            x = try conv2d(x, weight: conv2, padding: (1, 1))
            x = try batchNorm(x, weight: gamma2, bias: beta2, runningMean: stats[1].0, runningVar: stats[1].1, training: true)
            x = try relu(x)
            x = try flatten(globalAvgPool2d(x))
            return try crossEntropy(linear(x, weight: fcWeight, bias: fcBias), labels: labels)
        }

        let initial = try loss().item()
        var final = initial
        for _ in 0..<300 {
            for p in parameters { p.grad = nil }
            let l = try loss()
            final = try l.item()
            try l.backward()
            for p in parameters {
                let updated = try add(p.detached(), scale(p.grad!, by: -0.1)).scalars
                try p.assign(updated)
            }
        }
        XCTAssertGreaterThan(initial, 1.0)
        XCTAssertLessThan(final, 0.05, "loss went from \(initial) to \(final)")
    }
}
