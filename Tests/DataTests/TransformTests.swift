import Data
import Foundation
import Tensors
import XCTest

final class TransformTests: XCTestCase {
    func testRandomResizedCropStaysWithinTheAreaAndAspectBounds() throws {
        let crop = RandomResizedCrop(size: 32)
        var rng = SeededGenerator(seed: 1)
        var fallbacks = 0
        for _ in 0..<2000 {
            let (x, y, w, h) = crop.window(width: 320, height: 240, rng: &rng)
            XCTAssertTrue(x >= 0 && y >= 0 && x + w <= 320 && y + h <= 240)
            let area = Double(w * h) / Double(320 * 240), aspect = Double(w) / Double(h)
            if w == 240 * 4 / 3 && h == 240 { fallbacks += 1; continue }
            XCTAssertTrue(area >= 0.08 * 0.97 && area <= 1.0, "area \(area)")
            XCTAssertTrue(aspect >= 0.75 * 0.97 && aspect <= 4.0 / 3 * 1.03, "aspect \(aspect)")
        }
        XCTAssertLessThan(fallbacks, 20)
        let out = try crop(pattern(width: 50, height: 40, channels: 3, seed: 1), rng: &rng)
        XCTAssertEqual([out.width, out.height, out.channels], [32, 32, 3])
    }

    func testFallbackIsACentreCropOfTheClampedRatio() {
        // A 100x10 strip: no window of ratio <= 4/3 with 8% area fits, so the fallback runs.
        var rng = SeededGenerator(seed: 2)
        let (x, y, w, h) = RandomResizedCrop(size: 8).window(width: 100, height: 10, rng: &rng)
        XCTAssertEqual([x, y, w, h], [43, 0, 13, 10])
    }

    func testFlipIsAMirror() throws {
        let image = pattern(width: 5, height: 3, channels: 3, seed: 4)
        var rng = SeededGenerator(seed: 0)
        let flipped = try RandomHorizontalFlip(p: 1)(image, rng: &rng)
        for y in 0..<3 { for x in 0..<5 { for c in 0..<3 { XCTAssertEqual(flipped[x, y, c], image[4 - x, y, c]) } } }
        XCTAssertEqual(try RandomHorizontalFlip(p: 0)(image, rng: &rng), image)
    }

    func testColourJitterWithUnitCoefficientsIsTheIdentity() throws {
        let image = pattern(width: 6, height: 4, channels: 3, seed: 5)
        var rng = SeededGenerator(seed: 3)
        XCTAssertEqual(try ColorJitter(brightness: 0, saturation: 0, hue: 0)(image, rng: &rng), image)
    }

    func testBrightnessAndSaturationOnKnownPixels() throws {
        var rng = SeededGenerator(seed: 6)
        let image = Image(width: 1, height: 1, channels: 3, pixels: [100, 50, 200])
        let brighter = try ColorJitter(brightness: 0.4, saturation: 0, hue: 0)(image, rng: &rng)
        let c = brighter.pixels[0] / 100
        XCTAssertTrue(c >= 0.6 && c <= 1.4)
        XCTAssertEqual(brighter.pixels[1], 50 * c, accuracy: 1e-4)
        XCTAssertEqual(brighter.pixels[2], 200 * c, accuracy: 1e-4)
        // Hue rotation keeps luma.
        let rotated = try ColorJitter(brightness: 0, saturation: 0, hue: 0.4)(image, rng: &rng)
        let luma = { (p: [Float]) in 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] }
        XCTAssertEqual(luma(rotated.pixels), luma(image.pixels), accuracy: 0.05)
    }

    func testPCALightingWithZeroAlphaIsTheIdentity() {
        let lighting = Lighting()
        XCTAssertEqual(lighting.offset(alpha: [0, 0, 0]), [0, 0, 0])
        // alpha = (1, 0, 0): the first eigenvector times 55.46.
        let offset = lighting.offset(alpha: [1, 0, 0])
        XCTAssertEqual(offset[0], -0.5675 * 55.46, accuracy: 1e-3)
        XCTAssertEqual(offset[2], -0.5836 * 55.46, accuracy: 1e-3)
    }

    func testNormalisedConstantImageIsExact() throws {
        var rng = SeededGenerator(seed: 0)
        let image = Image(width: 4, height: 4, channels: 3, pixels: [Float](repeating: 123.68, count: 48))
        let out = try Normalize.imagenet(image, rng: &rng)
        XCTAssertEqual(out[0, 0, 0], 0)
        XCTAssertEqual(out[1, 1, 1], (123.68 - 116.779) / 57.12, accuracy: 1e-6)
        XCTAssertThrowsError(try Normalize(mean: [1], std: [1])(image, rng: &rng))
    }

    func testResizeAndCrops() throws {
        var rng = SeededGenerator(seed: 0)
        let constant = Image(width: 30, height: 20, channels: 3, pixels: [Float](repeating: 77, count: 1800))
        let resized = try ResizeShorter(10)(constant, rng: &rng)
        XCTAssertEqual([resized.width, resized.height], [15, 10])
        XCTAssertTrue(resized.pixels.allSatisfy { abs($0 - 77) < 1e-4 })
        let centre = try CenterCrop(8)(pattern(width: 12, height: 10, channels: 1, seed: 0), rng: &rng)
        XCTAssertEqual(centre[0, 0, 0], pattern(width: 12, height: 10, channels: 1, seed: 0)[2, 1, 0])
        XCTAssertThrowsError(try CenterCrop(40)(constant, rng: &rng))
        let padded = try PadRandomCrop(padding: 4)(pattern(width: 28, height: 28, channels: 1, seed: 1), rng: &rng)
        XCTAssertEqual([padded.width, padded.height], [28, 28])
    }
}

final class LoaderTests: XCTestCase {
    let transform = Compose([PadRandomCrop(padding: 2), RandomHorizontalFlip(), ColorJitter(), Lighting()])

    func batches(workers: Int, epoch: Int = 1, start: Int = 0) throws -> [[Float]] {
        let loader = try DataLoader(dataset: GeneratedDataset(count: 23), transform: transform, batchSize: 5, shuffle: true,
                                    seed: 9, workers: workers)
        let iterator = loader.epoch(epoch, startingAt: start)
        var out: [[Float]] = []
        while let batch = try iterator.next() { out.append(try batch.images.scalars + batch.labels.map(Float.init)) }
        return out
    }

    func testBatchesDoNotDependOnTheNumberOfWorkers() throws {
        let one = try batches(workers: 1), two = try batches(workers: 2), four = try batches(workers: 4)
        XCTAssertEqual(one.count, 5, "23 images in batches of 5, last partial batch kept")
        XCTAssertEqual(one, two)
        XCTAssertEqual(one, four)
        XCTAssertNotEqual(one, try batches(workers: 2, epoch: 2), "another epoch, another order and other draws")
    }

    func testResumingMidEpochSeesTheSameBatches() throws {
        XCTAssertEqual(try batches(workers: 2, start: 3), Array(try batches(workers: 1).suffix(2)))
    }

    func testShuffleIsAPermutationAndDropLastDrops() throws {
        let loader = try DataLoader(dataset: GeneratedDataset(count: 23), transform: Compose([]), batchSize: 5, shuffle: true, dropLast: true, seed: 1)
        XCTAssertEqual(loader.batchCount, 4)
        XCTAssertEqual(loader.order(epoch: 0).sorted(), Array(0..<23))
        XCTAssertNotEqual(loader.order(epoch: 0), loader.order(epoch: 1))
        XCTAssertThrowsError(try DataLoader(dataset: GeneratedDataset(count: 3), transform: Compose([]), batchSize: 4, shuffle: false, dropLast: true)) {
            XCTAssertTrue("\($0)".contains("--batch-size"), "\($0)")
        }
    }

    /// Data-parallel shards: at every step the batches of N processes hold exactly the images
    /// of one process's batch N times larger, with the same augmentation; evaluation shards
    /// cover every image once.
    func testShardsTogetherAreTheBatchOfOneProcess() throws {
        let dataset = GeneratedDataset(count: 23)
        let whole = try DataLoader(dataset: dataset, transform: transform, batchSize: 6, shuffle: true, dropLast: true, seed: 9)
        let shards = try (0..<2).map {
            try DataLoader(dataset: dataset, transform: transform, batchSize: 3, shuffle: true, dropLast: true, seed: 9,
                           shard: Shard(index: $0, count: 2, even: true))
        }
        XCTAssertEqual(shards.map(\.batchCount), [3, 3])
        XCTAssertEqual(whole.batchCount, 3)
        let (w, a, b) = (whole.epoch(1), shards[0].epoch(1), shards[1].epoch(1))
        for _ in 0..<3 {
            let (big, first, second) = (try XCTUnwrap(w.next()), try XCTUnwrap(a.next()), try XCTUnwrap(b.next()))
            XCTAssertEqual(Set(big.indices), Set(first.indices + second.indices))
            XCTAssertTrue(Set(first.indices).isDisjoint(with: second.indices))
            // The same image gets the same random crop and flip on whichever process reads it.
            let sample = first.indices[0], at = big.indices.firstIndex(of: sample)!, size = 3 * 12 * 12
            XCTAssertEqual(Array(try first.images.scalars[0..<size]), Array(try big.images.scalars[at * size ..< (at + 1) * size]))
        }
        let evaluation = try (0..<3).map {
            try DataLoader(dataset: dataset, transform: Compose([]), batchSize: 4, shuffle: false, shard: Shard(index: $0, count: 3, even: false)).order(epoch: 0)
        }
        XCTAssertEqual(evaluation.map(\.count), [8, 8, 7])
        XCTAssertEqual(evaluation.flatMap { $0 }.sorted(), Array(0..<23))
    }

    func testBatchIsNCHW() throws {
        let loader = try DataLoader(dataset: GeneratedDataset(count: 2), transform: Compose([]), batchSize: 2, shuffle: false)
        let batch = try XCTUnwrap(loader.epoch(0).next())
        XCTAssertEqual(batch.images.shape, [2, 3, 12, 12])
        let image = try GeneratedDataset(count: 2).image(at: 1)
        let values = try batch.images.scalars
        XCTAssertEqual(values[((1 * 3 + 2) * 12 + 5) * 12 + 7], image[7, 5, 2])
    }
}
