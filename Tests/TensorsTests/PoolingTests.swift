import Tensors
import XCTest

final class PoolingTests: XCTestCase {
    func checkMax(_ shape: [Int], kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                  ceilMode: Bool = false, blockedInput: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        var x = try distinct(shape, seed: 31)
        if blockedInput { x = try blocked(x) }
        try checkOp([x], file: file, line: line) { t in
            try maxPool2d(t[0], kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        } reference: { v in
            Reference.pool2d(v[0], shape, kind: .max, kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        }
    }

    func checkAverage(_ shape: [Int], kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0), ceilMode: Bool = false,
                      countIncludePad: Bool, blockedInput: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        var x = try random(shape, seed: 32)
        if blockedInput { x = try blocked(x) }
        try checkOp([x], file: file, line: line) { t in
            try avgPool2d(t[0], kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
        } reference: { v in
            Reference.pool2d(v[0], shape, kind: .average(countIncludePad: countIncludePad), kernel: kernel, stride: stride,
                             padding: padding, ceilMode: ceilMode)
        }
    }

    func testMaxPoolResNetStem() throws { try checkMax([2, 3, 9, 9], kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
    func testMaxPool2x2Blocked() throws { try checkMax([2, 8, 6, 6], kernel: (2, 2), stride: (2, 2), blockedInput: true) }
    func testMaxPoolCeilMode() throws { try checkMax([1, 3, 8, 7], kernel: (3, 3), stride: (2, 2), ceilMode: true) }
    func testMaxPoolDilated() throws { try checkMax([1, 2, 9, 9], kernel: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (2, 2)) }
    func testAvgPoolIncludingPadding() throws { try checkAverage([2, 3, 7, 7], kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: true) }
    func testAvgPoolExcludingPadding() throws { try checkAverage([2, 3, 7, 7], kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false) }
    /// ResNet-D's shortcut: 2x2, stride 2, ceil mode, padding not counted, on odd sizes.
    func testAvgPoolResNetDShortcut() throws {
        try checkAverage([2, 16, 7, 5], kernel: (2, 2), stride: (2, 2), ceilMode: true, countIncludePad: false, blockedInput: true)
    }
    func testAvgPoolCeilIncludingPaddingWithinPadding() throws {
        try checkAverage([1, 2, 7, 7], kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: true)
    }

    func testGlobalAveragePool() throws {
        let shape = [3, 16, 5, 4]
        try checkOp([try blocked(random(shape, seed: 33))]) { t in try globalAvgPool2d(t[0]) } reference: { v in
            Reference.pool2d(v[0], shape, kind: .average(countIncludePad: true), kernel: (5, 4), stride: (1, 1), padding: (0, 0), ceilMode: false)
        }
    }

    func testUnsupportedCeilOverhangIsAnError() throws {
        // 7 wide, kernel 2, stride 2, ceil mode: the last window hangs past the input with no padding.
        XCTAssertThrowsError(try avgPool2d(random([1, 1, 7, 7], seed: 1), kernel: (2, 2), ceilMode: true, countIncludePad: true)) {
            XCTAssertTrue("\($0)".contains("avg_pool2d"), "\($0)")
        }
    }

    func testPaddingLargerThanHalfKernelIsAnError() throws {
        XCTAssertThrowsError(try maxPool2d(random([1, 1, 7, 7], seed: 1), kernel: (2, 2), padding: (2, 2))) {
            XCTAssertTrue("\($0)".contains("max_pool2d") && "\($0)".contains("[1, 1, 7, 7]"), "\($0)")
        }
    }
}
