import Foundation
import Tensors
import XCTest

/// FCN's two new ops (issue 13): bilinear resize and per-pixel cross-entropy with an ignore
/// label, forward against naive Double references and gradients against finite differences;
/// and a few values PyTorch printed, so that the semantics (align_corners=False, the mean over
/// non-ignored pixels, PyTorch's label smoothing) are PyTorch's and not only self-consistent.
final class SegmentationOpTests: XCTestCase {
    /// PyTorch's rule, written out: source coordinate max((o + 0.5) * in / out - 0.5, 0).
    static func bilinearReference(_ x: [Double], _ shape: [Int], _ outH: Int, _ outW: Int) -> [Double] {
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        func taps(_ o: Int, _ input: Int, _ output: Int) -> (Int, Int, Double) {
            let source = max((Double(o) + 0.5) * Double(input) / Double(output) - 0.5, 0)
            let low = min(Int(source.rounded(.down)), input - 1)
            return (low, min(low + 1, input - 1), source - Double(low))
        }
        var y = [Double]()
        for p in 0..<planes {
            for i in 0..<outH {
                let (y0, y1, ly) = taps(i, h, outH)
                for j in 0..<outW {
                    let (x0, x1, lx) = taps(j, w, outW)
                    func at(_ r: Int, _ c: Int) -> Double { x[(p * h + r) * w + c] }
                    y.append((1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1)))
                }
            }
        }
        return y
    }

    func testBilinearUpsampleAndDownsample() throws {
        for (shape, size) in [([2, 3, 3, 5], (7, 11)), ([1, 2, 6, 6], (4, 3)), ([1, 1, 4, 4], (4, 4)), ([2, 2, 1, 1], (3, 2))] {
            try checkOp([try random(shape, seed: 21)]) { t in try upsampleBilinear2d(t[0], size: size) } reference: { v in
                [Self.bilinearReference(v[0], shape, size.0, size.1)].flatMap { $0 }
            }
        }
    }

    func testBilinearOfABlockedInput() throws {
        let x = try random([1, 8, 3, 3], seed: 22)
        XCTAssertEqual(try upsampleBilinear2d(blocked(x), size: (5, 4)).scalars, try upsampleBilinear2d(x, size: (5, 4)).scalars)
    }

    func testBilinearMatchesValuesPyTorchPrinted() throws {
        // F.interpolate(torch.tensor([[[[0., 1], [2, 3]]]]), size=(4, 4), mode="bilinear", align_corners=False)
        let up = try upsampleBilinear2d(Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 2, 3]), size: (4, 4)).scalars
        XCTAssertEqual(up, [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
        // ... and [[0, 1, 2], [3, 4, 5], [6, 7, 8]] to 2x2.
        let down = try upsampleBilinear2d(Tensor(shape: [1, 1, 3, 3], scalars: (0..<9).map(Float.init)), size: (2, 2)).scalars
        XCTAssertEqual(down, [1, 2.5, 5.5, 7])
    }

    func testBilinearRefusesBadShapes() throws {
        XCTAssertThrowsError(try upsampleBilinear2d(random([2, 3], seed: 1), size: (2, 2))) { XCTAssertTrue("\($0)".contains("[N, C, H, W]"), "\($0)") }
        XCTAssertThrowsError(try upsampleBilinear2d(random([1, 1, 2, 2], seed: 1), size: (0, 2))) { XCTAssertTrue("\($0)".contains("positive"), "\($0)") }
    }

    /// Per pixel: -sum_c target_c log softmax_c, target (1 - eps) one-hot + eps / K; the mean
    /// over pixels not labelled `ignore`.
    static func crossEntropyReference(_ z: [Double], _ shape: [Int], labels: [Int], ignore: Int, eps: Double) -> Double {
        let (n, k) = (shape[0], shape[1])
        let pixels = z.count / (n * k)
        var (total, counted) = (0.0, 0)
        for image in 0..<n {
            for p in 0..<pixels where labels[image * pixels + p] != ignore {
                let scores = (0..<k).map { z[(image * k + $0) * pixels + p] }
                let lse = log(scores.map { exp($0) }.reduce(0, +))
                for c in 0..<k {
                    let target = eps / Double(k) + (c == labels[image * pixels + p] ? 1 - eps : 0)
                    total -= target * (scores[c] - lse)
                }
                counted += 1
            }
        }
        return counted > 0 ? total / Double(counted) : 0
    }

    func testPixelCrossEntropyWithIgnoredPixelsAndSmoothing() throws {
        let shape = [2, 4, 3, 5]
        var generator = SeededGenerator(seed: 5)
        let labels = (0..<30).map { _ in Int.random(in: 0..<5, using: &generator) }.map { $0 == 4 ? 255 : $0 }
        XCTAssertTrue(labels.contains(255) && labels.contains(0))
        for eps in [0.0, 0.1] {
            try checkOp([try random(shape, seed: 23)]) { t in
                try crossEntropy(t[0], labels: labels, ignoreIndex: 255, labelSmoothing: Float(eps))
            } reference: { v in [Self.crossEntropyReference(v[0], shape, labels: labels, ignore: 255, eps: eps)] }
        }
        // [N, K] with [N] is the same loss.
        try checkOp([try random([6, 3], seed: 24)]) { t in try crossEntropy(t[0], labels: [0, 2, 255, 1, 1, 0], ignoreIndex: 255) } reference: { v in
            [Self.crossEntropyReference(v[0], [6, 3], labels: [0, 2, 255, 1, 1, 0], ignore: 255, eps: 0)]
        }
    }

    func testPixelCrossEntropyMatchesValuesPyTorchPrinted() throws {
        // x = [[[[1, 2], [0, 1]], [[0, 0], [3, 1]], [[2, 1], [1, 1]]]], target [[[0, 255], [2, 1]]]:
        // F.cross_entropy(x, target, ignore_index=255) and with label_smoothing=0.2.
        let x = try Tensor(shape: [1, 3, 2, 2], scalars: [1, 2, 0, 1, 0, 0, 3, 1, 2, 1, 1, 1])
        XCTAssertEqual(try crossEntropy(x, labels: [0, 255, 2, 1], ignoreIndex: 255).item(), 1.5586882, accuracy: 1e-6)
        XCTAssertEqual(try crossEntropy(x, labels: [0, 255, 2, 1], ignoreIndex: 255, labelSmoothing: 0.2).item(), 1.5364659, accuracy: 1e-6)
    }

    func testEveryPixelIgnoredGivesZeroAndNoGradient() throws {
        let x = try random([1, 3, 2, 2], seed: 25)
        x.requiresGrad = true
        let loss = try crossEntropy(x, labels: [255, 255, 255, 255], ignoreIndex: 255)
        XCTAssertEqual(try loss.item(), 0)
        try loss.backward()
        XCTAssertEqual(try x.grad?.scalars, [Float](repeating: 0, count: 12))
    }

    func testPixelCrossEntropyNamesBadLabels() throws {
        let x = try random([1, 3, 2, 2], seed: 26)
        XCTAssertThrowsError(try crossEntropy(x, labels: [0, 1, 3, 0], ignoreIndex: 255)) {
            XCTAssertTrue("\($0)".contains("label 3 at index 2"), "\($0)")
        }
        XCTAssertThrowsError(try crossEntropy(x, labels: [0, 1], ignoreIndex: 255)) { XCTAssertTrue("\($0)".contains("need 4 labels"), "\($0)") }
    }
}
