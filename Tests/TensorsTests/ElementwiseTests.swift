import CDNNL
import Tensors
import XCTest

final class ElementwiseTests: XCTestCase {
    func testReLU() throws {
        try checkOp([try distinct([2, 3, 4, 5], seed: 41)]) { try relu($0[0]) } reference: { $0[0].map { max(0, $0) } }
    }

    func testReLUBlocked() throws {
        try checkOp([try blocked(distinct([2, 8, 3, 3], seed: 42))]) { try relu($0[0]) } reference: { $0[0].map { max(0, $0) } }
    }

    /// Values from -16.7 to 16.7 (none within 0.05 of the kinks at 0 and 6), plain and blocked.
    func testReLU6() throws {
        for make in [{ $0 } as (Tensor) throws -> Tensor, blocked] {
            let x = try make(Tensor(shape: [2, 8, 3, 5], scalars: distinct([2, 8, 3, 5], seed: 43).scalars.map { $0 * 7 }))
            try checkOp([x]) { try relu6($0[0]) } reference: { $0[0].map { min(max(0, $0), 6) } }
        }
    }

    func testAddAcrossLayouts() throws {
        // A residual add: one operand blocked (a conv output), the other plain (the shortcut).
        let a = try blocked(random([2, 8, 3, 3], seed: 43)), b = try random([2, 8, 3, 3], seed: 44)
        try checkOp([a, b]) { try add($0[0], $0[1]) } reference: { zip($0[0], $0[1]).map(+) }
    }

    /// The end of a residual block, fused: relu(a + b), b small so that a + b keeps away from 0.
    func testAddReLUAcrossLayouts() throws {
        let a = try blocked(distinct([2, 8, 3, 3], seed: 49))
        let b = try Tensor(shape: [2, 8, 3, 3], scalars: random([2, 8, 3, 3], seed: 50).scalars.map { $0 * 0.01 })
        try checkOp([a, b]) { try addReLU($0[0], $0[1]) } reference: { zip($0[0], $0[1]).map { max($0 + $1, 0) } }
    }

    /// Equal to add, then relu, in every layout activations take (oneDNN 2.6.3's fused ReLU
    /// post-op failed this on nChw8c), including sizes with channel padding; shapes must match.
    func testAddReLUInEveryLayout() throws {
        for tag in [dnnl_nchw, dnnl_nhwc, dnnl_nChw8c, dnnl_nChw16c] {
            for shape in [[2, 8, 3, 3], [2, 32, 7, 7], [3, 24, 5, 5], [2, 16, 64, 64]] {
                let a = try random(shape, seed: 51).reordered(to: MemoryDescriptor(dims: shape, tag: tag)), b = try random(shape, seed: 52)
                XCTAssertEqual(try addReLU(a, b).scalars, try relu(add(a, b)).scalars, "\(tag) \(shape)")
            }
        }
        XCTAssertThrowsError(try addReLU(random([2, 16, 64, 64], seed: 1), random([2, 16, 64, 32], seed: 1))) {
            XCTAssertTrue("\($0)".contains("add_relu"), "\($0)")
        }
    }

    func testMultiply() throws {
        try checkOp([try random([3, 7], seed: 45), try random([3, 7], seed: 46)]) { try multiply($0[0], $0[1]) } reference: { zip($0[0], $0[1]).map(*) }
    }

    func testScale() throws {
        try checkOp([try blocked(random([2, 3, 2, 2], seed: 47))]) { try scale($0[0], by: -2.5) } reference: { $0[0].map { -2.5 * $0 } }
    }

    func testFlattenOfBlockedInput() throws {
        try checkOp([try blocked(random([2, 12, 3, 2], seed: 48))]) { try flatten($0[0]) } reference: { $0[0] }
        XCTAssertEqual(try flatten(random([2, 12, 3, 2], seed: 48)).shape, [2, 72])
    }

    func testReshapeInfersOneDimension() throws {
        let y = try reshape(random([4, 6], seed: 1), [3, -1, 2])
        XCTAssertEqual(y.shape, [3, 4, 2])
    }

    func testReshapeToWrongSizeIsAnError() throws {
        XCTAssertThrowsError(try reshape(random([4, 6], seed: 1), [5, 5])) {
            XCTAssertTrue("\($0)".contains("reshape") && "\($0)".contains("[4, 6]") && "\($0)".contains("[5, 5]"), "\($0)")
        }
    }

    func testConcatChannelsMixedLayouts() throws {
        let shapes = [[2, 3, 4, 4], [2, 8, 4, 4], [2, 5, 4, 4]]
        let inputs = [try random(shapes[0], seed: 51), try blocked(random(shapes[1], seed: 52)), try random(shapes[2], seed: 53)]
        try checkOp(inputs) { try concat($0, axis: 1) } reference: { Reference.concat($0, shapes: shapes, axis: 1) }
    }

    func testConcatLastAxis() throws {
        let shapes = [[3, 2], [3, 5]]
        try checkOp([try random(shapes[0], seed: 54), try random(shapes[1], seed: 55)]) { try concat($0, axis: 1) } reference: {
            Reference.concat($0, shapes: shapes, axis: 1)
        }
    }

    func testConcatShapeMismatchIsAnError() throws {
        XCTAssertThrowsError(try concat([random([2, 3, 4, 4], seed: 1), random([2, 3, 5, 4], seed: 2)])) {
            XCTAssertTrue("\($0)".contains("concat") && "\($0)".contains("[2, 3, 5, 4]"), "\($0)")
        }
    }

    func testDropoutScalesKeptValuesAndPassesGradientThroughTheMask() throws {
        var generator = SeededGenerator(seed: 7)
        let x = try Tensor.full([1000], 1, requiresGrad: true)
        let y = try dropout(x, p: 0.25, training: true, using: &generator)
        let values = try y.scalars
        XCTAssertTrue(values.allSatisfy { $0 == 0 || abs($0 - 4.0 / 3.0) < 1e-6 })
        let dropped = values.filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped) / 1000, 0.25, accuracy: 0.05)
        try y.backward(gradient: Tensor.full([1000], 1))
        XCTAssertEqual(try x.grad!.scalars, values, "d(dropout)/dx is the mask itself")
        var again = SeededGenerator(seed: 7)
        XCTAssertEqual(try dropout(x, p: 0.25, training: true, using: &again).scalars, values, "same seed, same mask")
        XCTAssertTrue(try dropout(x, p: 0.25, training: false, using: &again) === x)
    }
}
