import Data
import Foundation
import Tensors

/// Images per second of the input pipeline alone: JPEG decode, the paper's training
/// augmentation to 224x224 crops, and batching, on 1 and on 2 worker threads; or, with
/// `folderRate`, any data set with the pipeline `tricks train` gives it.
public struct LoaderBenchmark {
    public var images: Int
    public var batchSize: Int

    public init(images: Int = 256, batchSize: Int = 32) { (self.images, self.batchSize) = (images, batchSize) }

    /// Writes `images` photo-sized (500x375) JPEGs in two class folders under a temporary folder.
    public func makeFolder() throws -> String {
        let root = NSTemporaryDirectory() + "bagoftricks-loader-bench-\(getpid())"
        for name in ["a", "b"] { try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true) }
        for i in 0..<images {
            var pixels = [Float](repeating: 0, count: 500 * 375 * 3)
            for y in 0..<375 { for x in 0..<500 { for c in 0..<3 {
                pixels[(y * 500 + x) * 3 + c] = 128 + 100 * sin(Float(x + i) * 0.05 + Float(c)) * cos(Float(y) * 0.03)
            } } }
            let bytes = try ImageCodec.encodeJPEG(Image(width: 500, height: 375, channels: 3, pixels: pixels), quality: 90)
            FileManager.default.createFile(atPath: "\(root)/\(i % 2 == 0 ? "a" : "b")/\(i).jpg", contents: Data(bytes))
        }
        return root
    }

    /// Images per second with `workers` threads, over one epoch of the folder (decoding every
    /// image: nothing is kept decoded for the epochs it does not have).
    public func run(folder: String, workers: Int, scaledDecoding: Bool) throws -> Double {
        let dataset = try ImageFolder(root: folder, minShortSide: scaledDecoding ? 224 : nil, cacheBytes: 0)
        let loader = try DataLoader(dataset: dataset, transform: Pipelines.imagenetTrain(), batchSize: batchSize, shuffle: true,
                                    seed: 1, workers: workers, prefetch: 2)
        let start = ContinuousClock.now
        let iterator = loader.epoch(0)
        var count = 0
        while let batch = try iterator.next() { count += batch.labels.count }
        return Double(count) / (ContinuousClock.now - start).seconds
    }

    /// Images per second of `dataset` through `transform` and batching with `workers` threads,
    /// over its first `images` in the loader's shuffled order (what `tricks train` reads).
    public static func folderRate(_ dataset: any Dataset, transform: Compose, batchSize: Int, workers: Int, images: Int) throws -> Double {
        let loader = try DataLoader(dataset: dataset, transform: transform, batchSize: batchSize, shuffle: true, dropLast: true,
                                    seed: 1, workers: workers, prefetch: 2)
        let start = ContinuousClock.now
        let iterator = loader.epoch(0)
        defer { iterator.cancel() }
        var count = 0
        while count < images, let batch = try iterator.next() { count += batch.labels.count }
        return Double(count) / (ContinuousClock.now - start).seconds
    }
}
