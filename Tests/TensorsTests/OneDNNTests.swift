import CDNNL
import Tensors
import XCTest

final class MemoryDescriptorTests: XCTestCase {
    func testPlainDescriptorIsRowMajor() throws {
        let md = MemoryDescriptor(plain: [2, 3, 4, 5])
        XCTAssertTrue(md.isPlain)
        XCTAssertFalse(md.isPadded)
        XCTAssertEqual(md.strides, [60, 20, 5, 1])
        XCTAssertEqual(md.byteCount, 2 * 3 * 4 * 5 * 4)
    }

    func testBlockedDescriptorPadsChannelsToTheBlock() throws {
        let md = try MemoryDescriptor.nChw8c([2, 3, 4, 5])
        XCTAssertFalse(md.isPlain)
        XCTAssertTrue(md.isPadded)
        XCTAssertEqual(md.paddedDims, [2, 8, 4, 5])
        XCTAssertEqual(md.innerBlocks, [8])
        XCTAssertEqual(md.innerIndices, [1])
        XCTAssertEqual(md.byteCount, 2 * 8 * 4 * 5 * 4)
    }

    func testEqualityAndHashingFollowTheLayout() throws {
        let a = try MemoryDescriptor.nChw8c([2, 16, 4, 4]), b = try MemoryDescriptor.nChw8c([2, 16, 4, 4])
        let plain = MemoryDescriptor(plain: [2, 16, 4, 4])
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.hashValue, b.hashValue)
        XCTAssertNotEqual(a, plain)
        XCTAssertEqual(Set([a, b, plain]).count, 2)
        XCTAssertEqual(a.with(dataType: .bfloat16).byteCount, a.byteCount / 2)
    }
}

final class PrimitiveTests: XCTestCase {
    func testReorderRoundTripsThroughTheBlockedLayout() throws {
        let dims = [1, 3, 2, 2]
        let plain = MemoryDescriptor(plain: dims), block = try MemoryDescriptor.nChw8c(dims)
        var source = (0..<12).map(Float.init), blockedBuffer = [Float](repeating: -1, count: block.byteCount / 4)
        var back = [Float](repeating: 0, count: 12)
        try source.withUnsafeMutableBytes { src in
            try blockedBuffer.withUnsafeMutableBytes { mid in
                try back.withUnsafeMutableBytes { dst in
                    try Primitive.reorder(from: plain, to: block).execute([
                        (DNNL_ARG_FROM, Memory(plain, pointer: src.baseAddress, op: "test")),
                        (DNNL_ARG_TO, Memory(block, pointer: mid.baseAddress, op: "test"))])
                    try Primitive.reorder(from: block, to: plain).execute([
                        (DNNL_ARG_FROM, Memory(block, pointer: mid.baseAddress, op: "test")),
                        (DNNL_ARG_TO, Memory(plain, pointer: dst.baseAddress, op: "test"))])
                }
            }
        }
        XCTAssertEqual(back, source)
        // nChw8c of one pixel: the 3 channels, then 5 zeros of padding.
        XCTAssertEqual(Array(blockedBuffer[0..<8]), [0, 4, 8, 0, 0, 0, 0, 0])
    }

    func testCacheReturnsTheSamePrimitiveForTheSameKey() throws {
        let a = try MemoryDescriptor.nChw8c([2, 16, 3, 3]), b = MemoryDescriptor(plain: [2, 16, 3, 3])
        let first = try Primitive.reorder(from: a, to: b)
        let count = Context.shared.cache.count
        let second = try Primitive.reorder(from: a, to: b)
        XCTAssertTrue(first === second)
        XCTAssertEqual(Context.shared.cache.count, count)
    }

    func testFailedCallBecomesAnErrorNamingTheOp() throws {
        XCTAssertThrowsError(try Primitive.reorder(from: MemoryDescriptor(plain: [2, 3]), to: MemoryDescriptor(plain: [3, 2]))) { error in
            guard let error = error as? OpError else { return XCTFail("not an OpError: \(error)") }
            XCTAssertEqual(error.op, "reorder")
            XCTAssertTrue(error.message.contains("[2, 3]") && error.message.contains("[3, 2]"), error.message)
        }
    }

    func testThreadCountCanBeSet() throws {
        let before = Threads.count
        try Threads.set(1)
        XCTAssertEqual(Threads.count, 1)
        try Threads.set(before)
        XCTAssertEqual(Threads.count, before)
        XCTAssertThrowsError(try Threads.set(0))
    }
}
