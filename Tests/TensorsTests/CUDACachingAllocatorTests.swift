import Foundation
import XCTest
@testable import Tensors

/// The CUDA backend's caching allocator on a fake device memory (no GPU needed): rounding,
/// reuse, statistics, and the retry after emptying the cache when memory runs out.
final class CUDACachingAllocatorTests: XCTestCase {
    /// Device memory of `capacity` bytes that counts calls and refuses what does not fit.
    final class FakeMemory: DeviceMemorySource, @unchecked Sendable {
        let capacity: Int
        private let lock = NSLock()
        private var sizes: [UInt64: Int] = [:]
        private var next: UInt64 = 0x1000
        private var counts = (used: 0, allocations: 0, frees: 0)
        var used: Int { lock.withLock { counts.used } }
        var allocations: Int { lock.withLock { counts.allocations } }
        var frees: Int { lock.withLock { counts.frees } }
        init(capacity: Int) { self.capacity = capacity }

        func allocate(bytes: Int) throws -> UInt64 {
            try lock.withLock {
                guard counts.used + bytes <= capacity else { throw CUDAError("CUDA_ERROR_OUT_OF_MEMORY") }
                counts.used += bytes
                counts.allocations += 1
                next += UInt64(bytes)
                sizes[next] = bytes
                return next
            }
        }

        func free(_ pointer: UInt64) {
            lock.withLock {
                counts.used -= sizes.removeValue(forKey: pointer)!
                counts.frees += 1
            }
        }
    }

    func testSizesAreRoundedAsPyTorchRoundsThem() {
        XCTAssertEqual(CUDACachingAllocator.rounded(0), 512)
        XCTAssertEqual(CUDACachingAllocator.rounded(1), 512)
        XCTAssertEqual(CUDACachingAllocator.rounded(513), 1024)
        XCTAssertEqual(CUDACachingAllocator.rounded(1 << 20), 1 << 20)
        XCTAssertEqual(CUDACachingAllocator.rounded((1 << 20) + 1), 2 << 20)
        XCTAssertEqual(CUDACachingAllocator.rounded((2 << 20) + 1), 4 << 20)
    }

    func testReleasedBlocksAreReusedWithoutTheDriver() throws {
        let memory = FakeMemory(capacity: 64 << 20)
        let allocator = CUDACachingAllocator(source: memory)
        // A "step": three tensors, released, then the same sizes again.
        for _ in 0..<5 {
            let blocks = try [1000, 3 << 20, 40].map { try allocator.allocate(bytes: $0) }
            XCTAssertEqual(Set(blocks.map(\.pointer)).count, 3, "live blocks never share memory")
            blocks.forEach(allocator.release)
        }
        XCTAssertEqual(memory.allocations, 3, "only the first step reaches the driver")
        let s = allocator.statistics
        XCTAssertEqual(s.sourceAllocations, 3)
        XCTAssertEqual(s.cacheHits, 12)
        XCTAssertEqual(s.allocated, 0)
        XCTAssertEqual(s.reserved, 1024 + (4 << 20) + 512)
        XCTAssertEqual(s.peakAllocated, s.reserved)
        XCTAssertEqual(memory.used, s.reserved)
    }

    func testRunningOutEmptiesTheCacheAndRetriesOnce() throws {
        let memory = FakeMemory(capacity: 8 << 20)
        let allocator = CUDACachingAllocator(source: memory)
        let a = try allocator.allocate(bytes: 4 << 20)
        allocator.release(a)  // cached: 4 MiB held, 4 MiB free on the device
        let b = try allocator.allocate(bytes: 6 << 20)  // fits only once the cached block is given back
        XCTAssertEqual(memory.frees, 1)
        XCTAssertEqual(allocator.statistics.reserved, 6 << 20)
        XCTAssertEqual(allocator.statistics.allocated, 6 << 20)
        XCTAssertThrowsError(try allocator.allocate(bytes: 4 << 20)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("out of GPU memory allocating 4194304 bytes (6291456 bytes in use by tensors"), text)
            XCTAssertTrue(text.contains("CUDA_ERROR_OUT_OF_MEMORY"), text)
        }
        allocator.release(b)
        allocator.emptyCache()
        XCTAssertEqual(memory.used, 0)
        XCTAssertEqual(allocator.statistics.reserved, 0)
    }

    func testConcurrentUseKeepsTheBooks() throws {
        let memory = FakeMemory(capacity: 1 << 30)
        let allocator = CUDACachingAllocator(source: memory)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for k in 0..<200 {
                let block = try! allocator.allocate(bytes: 512 * (1 + (i + k) % 7))
                allocator.release(block)
            }
        }
        let s = allocator.statistics
        XCTAssertEqual(s.allocated, 0)
        XCTAssertEqual(s.sourceAllocations + s.cacheHits, 8 * 200)
        XCTAssertEqual(s.reserved, memory.used)
    }
}
