import Tensors
import XCTest

final class ConvolutionTests: XCTestCase {
    /// One configuration: forward and the input, weight and bias gradients against the reference.
    func check(input xs: [Int], weight ws: [Int], bias: Bool = true, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
               dilation: (Int, Int) = (1, 1), groups: Int = 1, blockedInput: Bool = false,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var x = try random(xs, seed: 1)
        if blockedInput { x = try blocked(x) }
        var inputs = [x, try random(ws, seed: 2)]
        if bias { inputs.append(try random([ws[0]], seed: 3)) }
        try checkOp(inputs, file: file, line: line) { t in
            try conv2d(t[0], weight: t[1], bias: bias ? t[2] : nil, stride: stride, padding: padding, dilation: dilation, groups: groups)
        } reference: { v in
            Reference.conv2d(v[0], xs, v[1], ws, bias ? v[2] : nil, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
    }

    func testPlain3x3WithBias() throws { try check(input: [2, 3, 7, 7], weight: [4, 3, 3, 3], padding: (1, 1)) }
    func testStride2OddSizesNoBias() throws { try check(input: [2, 3, 9, 8], weight: [5, 3, 3, 3], bias: false, stride: (2, 2), padding: (1, 1)) }
    func testGroups() throws { try check(input: [2, 4, 6, 5], weight: [6, 2, 3, 3], padding: (1, 1), groups: 2) }
    func testDepthwiseStride2() throws { try check(input: [2, 8, 7, 7], weight: [8, 1, 3, 3], stride: (2, 2), padding: (1, 1), groups: 8) }
    func testDilation() throws { try check(input: [1, 3, 9, 9], weight: [4, 3, 3, 3], padding: (2, 2), dilation: (2, 2)) }
    func testOneBySeven() throws { try check(input: [2, 3, 5, 9], weight: [4, 3, 1, 7], padding: (0, 3)) }
    func testSevenByOne() throws { try check(input: [2, 3, 9, 5], weight: [4, 3, 7, 1], padding: (3, 0)) }
    func testPointwiseStride2() throws { try check(input: [2, 16, 6, 6], weight: [8, 16, 1, 1], bias: false, stride: (2, 2)) }
    func testBlockedInput() throws { try check(input: [2, 16, 5, 5], weight: [8, 16, 3, 3], padding: (1, 1), blockedInput: true) }

    func testOutputStaysBlockedBetweenConvolutions() throws {
        let x = try random([4, 16, 8, 8], seed: 4)
        let w1 = try random([16, 16, 3, 3], seed: 5), w2 = try random([16, 16, 3, 3], seed: 6)
        let y1 = try conv2d(x, weight: w1, padding: (1, 1))
        let y2 = try conv2d(y1, weight: w2, padding: (1, 1))
        XCTAssertFalse(y1.descriptor.isPlain, "oneDNN should pick a blocked layout on AVX2: \(y1.descriptor)")
        XCTAssertEqual(y1.descriptor, y2.descriptor, "the second conv takes the first's layout as it is")
    }

    func testMismatchedChannelsIsAnErrorNamingShapes() throws {
        let x = try random([1, 3, 8, 8], seed: 1), w = try random([4, 5, 3, 3], seed: 2)
        XCTAssertThrowsError(try conv2d(x, weight: w)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("conv2d"), message)
            XCTAssertTrue(message.contains("[1, 3, 8, 8]") && message.contains("[4, 5, 3, 3]"), message)
        }
    }

    func testKernelLargerThanInputIsAnError() throws {
        let x = try random([1, 3, 2, 2], seed: 1), w = try random([4, 3, 5, 5], seed: 2)
        XCTAssertThrowsError(try conv2d(x, weight: w)) { XCTAssertTrue("\($0)".contains("larger than the padded input")) }
    }
}
