import Data
import Foundation
import Tensors
import XCTest

/// The built-in segmentation scenes and the joint augmentation (issue 13).
final class SegmentationDataTests: XCTestCase {
    func testGarmentScenesAreDeterministicAndLabelWhatTheyDraw() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        let scenes = try GarmentScenes.builtIn(train: false, count: 20, size: 96)
        XCTAssertEqual(scenes.classes.count, 11)
        XCTAssertEqual(scenes.classes[0], "background")
        var seen = Set<UInt8>()
        for i in 0..<scenes.count {
            let (image, mask) = try scenes.sample(at: i)
            let (again, againMask) = try scenes.sample(at: i)
            XCTAssertEqual(image, again, "scene \(i) is the same every time")
            XCTAssertEqual(mask, againMask)
            XCTAssertEqual([image.width, image.height, mask.width, mask.height], [96, 96, 96, 96])
            // A garment pixel is brighter than the threshold; the background is the faint noise.
            for (pixel, label) in zip(image.pixels, mask.labels) {
                if label == 0 { XCTAssertLessThan(pixel, 16) } else { XCTAssertGreaterThan(pixel, scenes.threshold) }
                XCTAssertLessThan(label, 11)
            }
            seen.formUnion(mask.labels)
            let garmentPixels = mask.labels.filter { $0 > 0 }.count
            XCTAssertGreaterThan(garmentPixels, 200, "scene \(i): 2-4 garments of at least 28x28 show")
        }
        XCTAssertGreaterThan(seen.count, 6, "20 scenes of 2-4 garments show most classes")
        XCTAssertNotEqual(try scenes.sample(at: 0).image, try scenes.sample(at: 1).image)
        // Training scenes come from the training images, with another seed.
        let train = try GarmentScenes.builtIn(train: true, count: 20, size: 96)
        XCTAssertEqual(train.garments.count, 60_000)
        XCTAssertEqual(scenes.garments.count, 10_000)
        XCTAssertNotEqual(train.seed, scenes.seed)
    }

    /// A synthetic image whose value encodes its position, with a mask that encodes the same.
    func positionCoded(width: Int, height: Int) -> (Image, Mask) {
        let image = Image(width: width, height: height, channels: 1, pixels: (0..<width * height).map { Float($0 % width) })
        let mask = Mask(width: width, height: height, labels: (0..<width * height).map { UInt8($0 % width) })
        return (image, mask)
    }

    func testFlipAndCropMoveImageAndMaskTogether() throws {
        let (image, mask) = positionCoded(width: 7, height: 5)
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<10 {
            let (i, m) = try JointCompose([JointHorizontalFlip(), JointRandomCrop(size: 4)])(image, mask, rng: &rng)
            XCTAssertEqual([i.width, i.height, m.width, m.height], [4, 4, 4, 4])
            for y in 0..<4 { for x in 0..<4 { XCTAssertEqual(i[x, y, 0], Float(m[x, y])) } }
        }
        // Smaller than the crop: padded with 0 and the ignore label on the right and bottom.
        let (i, m) = try JointRandomCrop(size: 9)(image, mask, rng: &rng)
        XCTAssertEqual(m[8, 0], Mask.ignoreIndex)
        XCTAssertEqual(m[0, 8], Mask.ignoreIndex)
        XCTAssertEqual(i[8, 8, 0], 0)
        XCTAssertEqual(m[6, 4], 6)
        XCTAssertEqual(m.labels.filter { $0 == Mask.ignoreIndex }.count, 81 - 35)
    }

    func testResizeKeepsLabelsAsLabels() throws {
        let (image, mask) = positionCoded(width: 6, height: 4)
        var rng = SeededGenerator(seed: 4)
        let (i, m) = try RandomResize(minSize: 8, maxSize: 8)(image, mask, rng: &rng)
        XCTAssertEqual([i.width, i.height, m.width, m.height], [12, 8, 12, 8])
        XCTAssertEqual(Set(m.labels), Set(mask.labels), "nearest neighbour: no label is invented")
        XCTAssertEqual((0..<12).map { m[$0, 0] }, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
        let (small, smallMask) = try RandomResize(minSize: 2, maxSize: 2)(image, mask, rng: &rng)
        XCTAssertEqual([small.width, small.height, smallMask.width, smallMask.height], [3, 2, 3, 2])
    }
}
