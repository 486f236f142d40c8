import Tensors
import XCTest

final class AutogradTests: XCTestCase {
    /// x feeds both the conv branch and the shortcut: its gradient is the sum of both paths.
    func testResidualBlockAccumulatesGradients() throws {
        let xs = [2, 8, 5, 5], ws = [8, 8, 3, 3]
        try checkOp([try distinct(xs, seed: 81), try random(ws, seed: 82)]) { t in
            try add(relu(conv2d(t[0], weight: t[1], padding: (1, 1))), t[0])
        } reference: { v in
            let branch = Reference.conv2d(v[0], xs, v[1], ws, nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
            return zip(branch, v[0]).map { max(0, $0) + $1 }
        }
    }

    func testLeafGradientsAccumulateAcrossBackwardCalls() throws {
        let w = try Tensor(shape: [3], scalars: [1, 2, 3], requiresGrad: true)
        try sum(scale(w, by: 2)).backward()
        try sum(scale(w, by: 2)).backward()
        XCTAssertEqual(try w.grad!.scalars, [4, 4, 4])
        w.grad = nil
        try sum(w).backward()
        XCTAssertEqual(try w.grad!.scalars, [1, 1, 1])
    }

    func testNoTapeIsRecordedWithoutGradient() throws {
        let w = try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4], requiresGrad: true)
        let y = try GradMode.withoutGradient { try sum(scale(w, by: 3)) }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertFalse(GradMode.withoutGradient { GradMode.enabled })
        XCTAssertTrue(GradMode.enabled)
        XCTAssertThrowsError(try y.backward()) { XCTAssertTrue("\($0)".contains("does not require grad"), "\($0)") }
    }

    func testBackwardOnNonScalarIsAnError() throws {
        let w = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6], requiresGrad: true)
        XCTAssertThrowsError(try scale(w, by: 2).backward()) { error in
            XCTAssertTrue("\(error)".contains("backward") && "\(error)".contains("[2, 3]"), "\(error)")
        }
    }

    func testSecondBackwardThroughAFreedGraphIsAnError() throws {
        let w = try Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
        let loss = try sum(multiply(w, w))
        try loss.backward()
        XCTAssertEqual(try w.grad!.scalars, [2, 4])
        XCTAssertThrowsError(try loss.backward()) { XCTAssertTrue("\($0)".contains("already used"), "\($0)") }
    }

    func testParameterGradientKeepsTheParameterLayout() throws {
        let w = try random([8, 4, 3, 3], seed: 83)
        w.requiresGrad = true
        try sum(conv2d(random([2, 4, 6, 6], seed: 84), weight: w, padding: (1, 1))).backward()
        XCTAssertEqual(w.grad?.descriptor, w.descriptor)
        XCTAssertTrue(w.grad!.descriptor.isPlain)
    }
}

final class PrecisionTests: XCTestCase {
    func testFloat16RoundsToNearestEven() throws {
        let x = try Tensor(shape: [4], scalars: [1.0 / 3.0, 2049, 2051, 65504])
        let half = try x.converted(to: .float16)
        XCTAssertEqual(half.dataType, .float16)
        XCTAssertEqual(half.descriptor.byteCount, 8)
        XCTAssertEqual(try half.scalars, [0.333251953125, 2048, 2052, 65504])
    }

    func testBFloat16RoundsToNearestEven() throws {
        let x = try Tensor(shape: [4], scalars: [1.0 / 3.0, 1 + 1.0 / 256, 1 + 3.0 / 256, -2.5])
        XCTAssertEqual(try x.converted(to: .bfloat16).scalars, [0.333984375, 1, 1 + 1.0 / 64, -2.5])
    }

    func testBlockedLayoutSurvivesConversion() throws {
        let x = try blocked(random([2, 8, 3, 3], seed: 91))
        let back = try x.converted(to: .bfloat16).converted(to: .float32)
        XCTAssertEqual(back.descriptor, x.descriptor)
        for (a, b) in zip(try back.scalars, try x.scalars) { XCTAssertEqual(a, b, accuracy: abs(b) / 128) }
    }

    /// A 16-bit activation is computed in a type the backend has: float16 (no kernels anywhere)
    /// as Float32, bfloat16 natively where oneDNN has it; parameters must be Float32.
    func testSixteenBitInputsAreCastAndParametersMustBeFloat32() throws {
        let x = try random([1, 2, 4, 4], seed: 1).converted(to: .float16)
        let y = try relu(x)
        XCTAssertEqual(y.dataType, .float32)
        XCTAssertEqual(try y.scalars, try x.scalars.map { max(0, $0) })
        let b = try relu(x.converted(to: .bfloat16))
        XCTAssertEqual(b.dataType, Autocast.isNative(.bfloat16, on: .cpu) ? .bfloat16 : .float32)
        let weight = try random([2, 2, 3, 3], seed: 2).converted(to: .float16)
        XCTAssertThrowsError(try conv2d(random([1, 2, 4, 4], seed: 3), weight: weight)) {
            XCTAssertTrue("\($0)".contains("conv2d") && "\($0)".contains("float16"), "\($0)")
        }
    }
}

final class GradientOwnershipTests: XCTestCase {
    /// add() hands one gradient tensor to both inputs; the two leaves must still own separate storage.
    func testLeavesOfOneAddGetSeparateGradients() throws {
        let a = try Tensor(shape: [3], scalars: [1, 2, 3], requiresGrad: true)
        let b = try Tensor(shape: [3], scalars: [4, 5, 6], requiresGrad: true)
        try add(a, b).backward(gradient: Tensor(shape: [3], scalars: [1, 1, 1]))
        XCTAssertFalse(a.grad === b.grad)
        try a.grad!.assign([7, 7, 7])
        XCTAssertEqual(try b.grad!.scalars, [1, 1, 1])
    }
}

final class HalfRoundingTests: XCTestCase {
    /// The fast rounding equals Swift's Float16 conversion on random values of every magnitude,
    /// ties, subnormals, overflow and specials.
    func testFastHalfRoundingEqualsFloat16Conversion() {
        var generator = SeededGenerator(seed: 5)
        var values: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e10, .infinity, -.infinity, 6.1e-5, 6.2e-5,
                               5.96e-8, 2.98e-8, 2.99e-8, 1e-9, 2049, 2051, 0.1, 1.0 / 3]
        for _ in 0..<100_000 {
            let exponent = Float.random(in: -30...20, using: &generator)
            values.append(Float.random(in: -1...1, using: &generator) * Float(pow(2.0, Double(exponent))))
        }
        for x in values {
            XCTAssertEqual(roundedToHalf(x).bitPattern, Float(Float16(x)).bitPattern, "x = \(x)")
        }
        XCTAssertTrue(roundedToHalf(.nan).isNaN)
    }
}
