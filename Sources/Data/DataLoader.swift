import Foundation
import Tensors

/// A batch: images [N, C, H, W] and their labels, with the dataset indices they came from.
public struct Batch {
    public let images: Tensor
    public let labels: [Int]
    public let indices: [Int]
}

/// Shuffles, decodes and augments on worker threads and hands out batches in order, with a
/// bounded queue of batches prepared ahead while the model trains.
///
/// Determinism: the epoch's order comes from (seed, epoch) and each sample's random draws from
/// a generator seeded by (seed, epoch, sample index), so a run's batches are identical whatever
/// the number of workers, and a run resumed at batch k sees what an uninterrupted one saw.
public final class DataLoader: Sendable {
    public let dataset: any Dataset
    public let transform: any Transform
    public let batchSize: Int
    public let shuffle: Bool
    public let dropLast: Bool
    public let seed: UInt64
    public let workers: Int
    public let prefetch: Int
    /// Stop at a bad image instead of skipping it.
    public let strict: Bool
    public let skips = SkipLog()
    /// Which part of every epoch this process reads (data-parallel training).
    public let shard: Shard

    public init(dataset: any Dataset, transform: any Transform, batchSize: Int, shuffle: Bool, dropLast: Bool = false,
                seed: UInt64 = 0, workers: Int = 2, prefetch: Int = 2, strict: Bool = false, shard: Shard = .whole) throws {
        guard batchSize >= 1 else { throw DataError("--batch-size", "must be at least 1, got \(batchSize)") }
        guard dataset.count > 0 else { throw DataError("dataset", "has no images") }
        (self.dataset, self.transform, self.batchSize, self.shuffle, self.dropLast) = (dataset, transform, batchSize, shuffle, dropLast)
        (self.seed, self.workers, self.prefetch, self.strict, self.shard) = (seed, max(1, workers), max(1, prefetch), strict, shard)
        if dropLast && batchSize > sampleCount {
            throw DataError("--batch-size", "\(batchSize) is larger than the \(sampleCount) images" + (shard.count > 1 ? " of this process's shard" : "")
                            + ", and the last partial batch is dropped: no batch would remain")
        }
    }

    /// Samples per epoch that this process reads.
    public var sampleCount: Int { shard.sampleCount(of: dataset.count) }

    public var batchCount: Int { dropLast ? sampleCount / batchSize : (sampleCount + batchSize - 1) / batchSize }

    /// The sample order of an epoch: a permutation seeded by (seed, epoch), the same on every
    /// process, of which this process takes its shard.
    public func order(epoch: Int) -> [Int] {
        var order = Array(0..<dataset.count)
        if shuffle {
            var rng = SeededGenerator(seed: seed, UInt64(epoch), 0x5EED)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        }
        return shard.select(order)
    }

    /// How many other images are tried in place of an unreadable one before a batch stays short.
    static let replacementTries = 16

    /// The batches of `epoch`, from batch `start` on, prepared ahead on a background thread.
    public func epoch(_ epoch: Int, startingAt start: Int = 0) -> EpochIterator {
        EpochIterator(loader: self, epoch: epoch, start: start)
    }

    /// Builds one batch synchronously (the iterator's producer calls this); nil for an evaluation
    /// batch of which no image could be read.
    public func batch(_ index: Int, of order: [Int], epoch: Int) throws -> Batch? {
        let indices = Array(order[index * batchSize ..< min(order.count, (index + 1) * batchSize)])
        let results = SlotResults(count: indices.count)
        let transform = self.transform, dataset = self.dataset, seed = self.seed
        let workers = min(self.workers, indices.count)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for slot in stride(from: worker, to: indices.count, by: workers) {
                var rng = SeededGenerator(seed: seed, UInt64(epoch), UInt64(indices[slot]))
                results.set(slot, Result { try transform(dataset.image(at: indices[slot]), rng: &rng) })
            }
        }
        var images: [Image] = [], labels: [Int] = [], kept: [Int] = []
        func keep(_ image: Image, _ index: Int) throws {
            if let first = images.first, (first.width, first.height, first.channels) != (image.width, image.height, image.channels) {
                throw DataError(dataset.source(of: index), "gives a \(image.width)x\(image.height)x\(image.channels) sample but "
                                + "the batch holds \(first.width)x\(first.height)x\(first.channels): add a crop or resize to the transform")
            }
            images.append(image)
            labels.append(dataset.label(at: index))
            kept.append(index)
        }
        var failed: [Int] = []
        for (slot, result) in results.all.enumerated() {
            switch result {
            case .success(let image):
                try keep(image, indices[slot])
            case .failure(let error):
                if strict { throw error }
                skips.record(dataset.source(of: indices[slot]), error)
                failed.append(indices[slot])
            case nil:
                fatalError("sample slot \(slot) was never filled")
            }
        }
        // A training batch keeps its size: each unreadable image is replaced by one drawn from the
        // epoch's order with a generator seeded by (seed, epoch, the bad image), so that the
        // batch is the same on a rerun. Evaluation (no shuffle) reads each image once and leaves
        // the bad ones out.
        if shuffle {
            for bad in failed {
                var draw = SeededGenerator(seed: seed, UInt64(epoch), UInt64(bad), 0xBAD)
                for _ in 0..<DataLoader.replacementTries {
                    let candidate = order[Int(draw.next() % UInt64(order.count))]
                    guard !skips.contains(dataset.source(of: candidate)) else { continue }
                    var rng = SeededGenerator(seed: seed, UInt64(epoch), UInt64(candidate))
                    do {
                        try keep(try transform(dataset.image(at: candidate), rng: &rng), candidate)
                        break
                    } catch let error as DataError where error.message.hasPrefix("gives a ") {
                        throw error
                    } catch {
                        skips.record(dataset.source(of: candidate), error)
                    }
                }
            }
        }
        guard !images.isEmpty else {
            if !shuffle { return nil }
            throw DataError(dataset.source(of: indices[0]), "every image of batch \(index) failed to load"
                            + ", and \(DataLoader.replacementTries) replacements for each as well")
        }
        return Batch(images: try nchwTensor(images), labels: labels, indices: kept)
    }
}

/// Images of one size (HWC) as one NCHW tensor, what models take.
public func nchwTensor(_ images: [Image]) throws -> Tensor {
    guard let first = images.first else { throw DataError("batch", "no images") }
    let (c, h, w) = (first.channels, first.height, first.width)
    var values = [Float](repeating: 0, count: images.count * c * h * w)
    for (n, image) in images.enumerated() {
        for y in 0..<h { for x in 0..<w { for k in 0..<c {
            values[((n * c + k) * h + y) * w + x] = image.pixels[(y * w + x) * c + k]
        } } }
    }
    return try Tensor(shape: [images.count, c, h, w], scalars: values)
}

/// One process's part of an epoch in data-parallel training, as PyTorch's DistributedSampler:
/// process `index` of `count` takes positions index, index + count, ... of the epoch's order.
/// So the k-th batches of all processes together hold exactly the images of the k-th batch of
/// one process with a batch `count` times larger. With `even`, the tail that does not divide
/// by `count` is left out so that every process has the same number of batches (training
/// steps stay in lockstep); without it (evaluation) every image is read once by someone.
public struct Shard: Sendable, Equatable {
    public let index: Int, count: Int, even: Bool

    public init(index: Int, count: Int, even: Bool) {
        precondition(count >= 1 && (0..<count).contains(index), "shard \(index) of \(count)")
        (self.index, self.count, self.even) = (index, count, even)
    }

    public static let whole = Shard(index: 0, count: 1, even: true)

    func sampleCount(of total: Int) -> Int {
        even ? total / count : (total - index + count - 1) / count
    }

    func select(_ order: [Int]) -> [Int] {
        guard count > 1 else { return order }
        return Array(stride(from: index, to: even ? order.count / count * count : order.count, by: count).map { order[$0] })
    }
}

/// Bad images seen by one loader: each path reported once per process on standard error (the
/// statistics pass and the loaders share the report), then counted here.
public final class SkipLog: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String: String] = [:]
    private static let reported = ReportedPaths()

    public init() {}

    public var count: Int { lock.withLock { seen.count } }
    public var entries: [String: String] { lock.withLock { seen } }

    func contains(_ path: String) -> Bool { lock.withLock { seen[path] != nil } }

    func record(_ path: String, _ error: Error) {
        lock.withLock { seen[path] = seen[path] ?? "\(error)" }
        if SkipLog.reported.insert(path) { FileHandle.standardError.write(Data("skipped \(describe(error, of: path))\n".utf8)) }
    }
}

/// The paths already reported, across every SkipLog of the process.
private final class ReportedPaths: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: Set<String> = []
    /// True the first time `path` is given.
    func insert(_ path: String) -> Bool { lock.withLock { paths.insert(path).inserted } }
}

/// One result slot per sample, written by worker threads at distinct indices.
final class SlotResults: @unchecked Sendable {
    private var slots: [Result<Image, Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ result: Result<Image, Error>) { lock.withLock { slots[i] = result } }
    var all: [Result<Image, Error>?] { lock.withLock { slots } }
}

/// The batches of one epoch, made ahead by a producer thread into a bounded queue. Dropping
/// the iterator (or `cancel()`) stops the producer.
public final class EpochIterator {
    private let queue: BatchQueue
    public let batchCount: Int

    init(loader: DataLoader, epoch: Int, start: Int) {
        let order = loader.order(epoch: epoch)
        let queue = BatchQueue(capacity: loader.prefetch)
        self.queue = queue
        batchCount = loader.batchCount
        let count = batchCount
        // The thread holds the queue, not the iterator, so that dropping the iterator cancels it.
        Thread {
            for index in start..<count {
                let made = Result { try loader.batch(index, of: order, epoch: epoch) }
                if case .success(nil) = made { continue }
                guard queue.put(made.map { $0! }) else { return }
                if case .failure = made { break }
            }
            queue.finish()
        }.start()
    }

    /// The next batch, waiting for it if the producer is behind; nil at the end of the epoch.
    public func next() throws -> Batch? { try queue.take()?.get() }

    public func cancel() { queue.cancel() }

    deinit { queue.cancel() }
}

/// A bounded queue between the producer thread and the training loop.
final class BatchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Result<Batch, Error>] = []
    private var finished = false, cancelled = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits for room; false if cancelled.
    func put(_ item: Result<Batch, Error>) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    func take() -> Result<Batch, Error>? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished && !cancelled { condition.wait() }
        guard !items.isEmpty else { return nil }
        condition.broadcast()
        return items.removeFirst()
    }

    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
