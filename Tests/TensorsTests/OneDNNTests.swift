import CDNNL
@testable import Tensors
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

    /// Two layers with the same settings whose forward passes use different activation layouts (a
    /// first layer's are left free, a later one's pinned to backward-data's; on AMX they differ:
    /// NHWC against nChw16c) each get the weight-gradient kernel made for their own forward pass,
    /// not whichever of the two ran first.
    func testBackwardWeightsIsCachedPerForwardLayouts() throws {
        let g = try ConvGeometry(input: [4, 16, 8, 8], weight: [16, 16, 3, 3], bias: nil, stride: (1, 1),
                                 padding: (1, 1), dilation: (1, 1), groups: 1)
        func forward(_ tag: dnnl_format_tag_t) throws -> PrimitiveDescriptor {
            try g.forwardDescriptor(training: true, source: MemoryDescriptor(dims: g.input, dataType: .float32, tag: tag),
                                    destination: MemoryDescriptor(dims: g.output, dataType: .float32, tag: tag))
        }
        let nhwc = try forward(dnnl_nhwc), blocked = try forward(dnnl_nChw16c)
        let x = try random(g.input, seed: 1), dy = try random(g.output, seed: 2)
        let (dwNHWC, _) = try g.backwardWeights(dy, source: x, hint: nhwc)
        let (dwBlocked, _) = try g.backwardWeights(dy, source: x, hint: blocked)
        for (a, b) in zip(try dwNHWC.scalars, try dwBlocked.scalars) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(a))) }
        func cached(_ hint: PrimitiveDescriptor) throws -> Primitive {
            try Context.shared.cache.primitive(for: g.backwardKey("conv2d.backward_weights", hint: hint)) {
                throw OpError(op: "test", "no weight-gradient primitive cached for \(hint.memory(dnnl_query_src_md)!)")
            }
        }
        XCTAssertFalse(try cached(nhwc) === cached(blocked))
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
