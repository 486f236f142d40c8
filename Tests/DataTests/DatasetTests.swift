import Data
import Foundation
import Tensors
import XCTest

final class DatasetTests: XCTestCase {
    func testIDXReaderOnGeneratedFiles() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let images: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3] + [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]
        let labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 2, 1, 0]
        try write(images, to: folder + "/images")
        try write(labels, to: folder + "/labels")
        let dataset = try IDXDataset(images: folder + "/images", labels: folder + "/labels")
        XCTAssertEqual(dataset.count, 2)
        XCTAssertEqual(dataset.classes, ["0", "1"])
        XCTAssertEqual(dataset.label(at: 0), 1)
        let image = try dataset.image(at: 1)
        XCTAssertEqual([image.width, image.height, image.channels], [3, 2, 1])
        XCTAssertEqual(image.pixels, [10, 20, 30, 40, 50, 60])
        try write(Array(images.prefix(20)), to: folder + "/short")
        XCTAssertThrowsError(try IDXDataset(images: folder + "/short", labels: folder + "/labels")) {
            XCTAssertTrue("\($0)".contains("short") && "\($0)".contains("truncated"), "\($0)")
        }
        XCTAssertThrowsError(try IDXDataset(images: folder + "/missing", labels: folder + "/labels")) {
            XCTAssertTrue("\($0)".contains("missing: no such file"), "\($0)")
        }
    }

    func testDebianFashionMNIST() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        let test = try FashionMNIST.load(train: false)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.classCounts, [Int](repeating: 1000, count: 10))
        let image = try test.image(at: 0)
        XCTAssertEqual([image.width, image.height, image.channels], [28, 28, 1])
        XCTAssertEqual(test.label(at: 0), 9, "the first test image is an ankle boot")
        XCTAssertEqual(test.summary, "10000 images, 10 classes (1000 to 1000 per class), 1 channel")
    }

    func testCIFARReaderUnpacksPlanarRecords() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var bytes: [UInt8] = []
        for record in 0..<3 {
            bytes.append(UInt8(record * 4))  // labels 0, 4, 8
            for c in 0..<3 { bytes += [UInt8](repeating: UInt8(record * 10 + c), count: 1024) }
        }
        try write(bytes, to: folder + "/data_batch_1.bin")
        let dataset = try CIFARDataset(files: [folder + "/data_batch_1.bin"])
        XCTAssertEqual(dataset.count, 3)
        XCTAssertEqual((0..<3).map(dataset.label), [0, 4, 8])
        XCTAssertEqual(dataset.classes[8], "ship")
        let image = try dataset.image(at: 2)
        XCTAssertEqual(Array(image.pixels.prefix(6)), [20, 21, 22, 20, 21, 22], "planar RGB becomes interleaved")
        try write(Array(bytes.dropLast()), to: folder + "/bad.bin")
        XCTAssertThrowsError(try CIFARDataset(files: [folder + "/bad.bin"])) { XCTAssertTrue("\($0)".contains("bad.bin"), "\($0)") }
    }

    /// A folder that fits the budget is decoded once: the second epoch gives the same pixels
    /// with the files gone. One that does not fit (judged at its first image) is read every time.
    func testImageFolderDecodesASmallFolderOnce() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["cats", "dogs"] { try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true) }
        let colour = pattern(width: 20, height: 14, channels: 3, seed: 1)
        try write(ImageCodec.encodePNG(colour), to: "\(root)/cats/a.png")
        try write(ImageCodec.encodeJPEG(colour), to: "\(root)/cats/b.jpg")
        try write(ImageCodec.encodePNG(pattern(width: 9, height: 11, channels: 1, seed: 2)), to: "\(root)/dogs/c.png")
        let imageBytes = 20 * 14 * 3
        let kept = try ImageFolder(root: root, cacheBytes: 3 * imageBytes)
        let notKept = try ImageFolder(root: root, cacheBytes: 3 * imageBytes - 1)
        let first = try (0..<3).map { try kept.image(at: $0) }
        XCTAssertEqual(try (0..<3).map { try notKept.image(at: $0) }, first)
        XCTAssertEqual(kept.decodedCount, 3)
        XCTAssertEqual(notKept.decodedCount, 0, "three images of the first one's size do not fit")
        for file in ["cats/a.png", "cats/b.jpg", "dogs/c.png"] { try FileManager.default.removeItem(atPath: "\(root)/\(file)") }
        XCTAssertEqual(try (0..<3).map { try kept.image(at: $0) }, first, "the same pixels from memory, JPEG included")
        XCTAssertThrowsError(try notKept.image(at: 1)) { XCTAssertTrue("\($0)".contains("cats/b.jpg"), "\($0)") }
    }

    func testImageFolderReadsJPEGAndPNGAndSkipsBadFiles() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["cats", "dogs"] { try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true) }
        let colour = pattern(width: 20, height: 14, channels: 3, seed: 1), grey = pattern(width: 9, height: 11, channels: 1, seed: 2)
        try write(ImageCodec.encodePNG(colour), to: "\(root)/cats/a.png")
        try write(ImageCodec.encodeJPEG(colour), to: "\(root)/cats/b.jpg")
        try write(ImageCodec.encodePNG(grey), to: "\(root)/dogs/c.PNG")
        let jpeg = try ImageCodec.encodeJPEG(colour)
        try write(Array(jpeg.prefix(jpeg.count / 2)), to: "\(root)/dogs/truncated.jpg")
        try write([], to: "\(root)/dogs/empty.jpg")
        try write(Array("not an image".utf8), to: "\(root)/dogs/notes.txt")

        let dataset = try ImageFolder(root: root)
        XCTAssertEqual(dataset.classes, ["cats", "dogs"])
        XCTAssertEqual(dataset.count, 5, "a.png, b.jpg, c.PNG, empty.jpg, truncated.jpg; notes.txt ignored")
        XCTAssertThrowsError(try dataset.image(at: 3)) { XCTAssertEqual("\($0)", "\(root)/dogs/empty.jpg: empty file") }
        XCTAssertEqual(try dataset.image(at: 0), colour, "PNG is lossless")
        let decoded = try dataset.image(at: 1)
        let errors = zip(decoded.pixels, colour.pixels).map { abs($0 - $1) }
        XCTAssertLessThan(errors.reduce(0, +) / Float(errors.count), 3, "JPEG at quality 95 stays close on average")
        let greyAsRGB = try dataset.image(at: 2)
        XCTAssertEqual(greyAsRGB.channels, 3)
        XCTAssertEqual(greyAsRGB[4, 5, 0], grey[4, 5, 0])
        XCTAssertEqual(greyAsRGB[4, 5, 2], grey[4, 5, 0])
        XCTAssertThrowsError(try dataset.image(at: 4)) { XCTAssertTrue("\($0)".contains("truncated.jpg") && "\($0)".contains("corrupt"), "\($0)") }

        // Evaluation (no shuffle) reads each image once and leaves the two bad ones out, even
        // where a whole batch is bad.
        let loader = try DataLoader(dataset: dataset, transform: Compose([CenterCrop(8)]), batchSize: 4, shuffle: false)
        let epoch = loader.epoch(0)
        let batch = try XCTUnwrap(epoch.next())
        XCTAssertEqual(batch.images.shape, [3, 3, 8, 8])
        XCTAssertEqual(batch.labels, [0, 0, 1])
        XCTAssertNil(try epoch.next(), "the second batch holds only truncated.jpg")
        XCTAssertEqual(loader.skips.count, 2)
        // Training keeps every batch full: a bad image's place is taken by a readable one, the
        // same on every run.
        for batchSize in [1, 2, 4] {
            let training = try DataLoader(dataset: dataset, transform: Compose([CenterCrop(8)]), batchSize: batchSize, shuffle: true, seed: 3)
            let again = try DataLoader(dataset: dataset, transform: Compose([CenterCrop(8)]), batchSize: batchSize, shuffle: true, seed: 3)
            let (first, second) = (training.epoch(0), again.epoch(0))
            var seen = 0
            while let batch = try first.next() {
                let twin = try XCTUnwrap(second.next())
                XCTAssertEqual(batch.indices, twin.indices)
                XCTAssertTrue(batch.indices.allSatisfy { $0 < 3 }, "only a.png, b.jpg and c.PNG are readable: \(batch.indices)")
                seen += batch.labels.count
            }
            XCTAssertEqual(seen, 5, "batch \(batchSize): five places, every one filled")
            XCTAssertEqual(training.skips.count, 2)
        }
        let strict = try DataLoader(dataset: dataset, transform: Compose([CenterCrop(8)]), batchSize: 4, shuffle: false, strict: true)
        XCTAssertThrowsError(try strict.epoch(0).next()) { XCTAssertEqual("\($0)", "\(root)/dogs/empty.jpg: empty file") }
    }

    /// A folder with train/ and test/ (how CIFAR-10's folder mirrors ship) validates on test/;
    /// val/ is preferred where both are there.
    func testTrainAndTestSubfoldersAreTheSplits() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let image = try ImageCodec.encodePNG(pattern(width: 8, height: 8, channels: 3, seed: 3))
        for (split, count) in [("train", 3), ("test", 2)] {
            for name in ["cat", "dog"] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(split)/\(name)", withIntermediateDirectories: true)
                for i in 0..<count { try write(image, to: "\(root)/\(split)/\(name)/\(i).png") }
            }
        }
        var (train, validation) = try DataSource(path: root).load()
        XCTAssertEqual([train.count, validation.count], [6, 4])
        for name in ["cat", "dog"] {
            try FileManager.default.createDirectory(atPath: "\(root)/val/\(name)", withIntermediateDirectories: true)
            try write(image, to: "\(root)/val/\(name)/0.png")
        }
        (train, validation) = try DataSource(path: root).load()
        XCTAssertEqual([train.count, validation.count], [6, 2])
    }

    func testImageFolderErrors() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertThrowsError(try ImageFolder(root: root + "/nope")) { XCTAssertTrue("\($0)".contains("no such folder"), "\($0)") }
        XCTAssertThrowsError(try ImageFolder(root: root)) { XCTAssertTrue("\($0)".contains("no class subfolders"), "\($0)") }
        try FileManager.default.createDirectory(atPath: root + "/only", withIntermediateDirectories: true)
        try write(ImageCodec.encodePNG(pattern(width: 4, height: 4, channels: 1, seed: 0)), to: root + "/only/x.png")
        XCTAssertThrowsError(try ImageFolder(root: root)) { XCTAssertTrue("\($0)".contains("only one class"), "\($0)") }
        try FileManager.default.createDirectory(atPath: root + "/other", withIntermediateDirectories: true)
        XCTAssertEqual(try ImageFolder(root: root).count, 1)
    }

    func testScaledJPEGDecoding() throws {
        let big = pattern(width: 400, height: 300, channels: 3, seed: 3)
        let bytes = try ImageCodec.encodeJPEG(big)
        let scaled = try ImageCodec.decode(bytes, path: "big.jpg", channels: 3, minShortSide: 70)
        XCTAssertEqual([scaled.width, scaled.height], [100, 75], "1/4 scale keeps the shorter side >= 70")
        XCTAssertEqual(try ImageCodec.decode(bytes, path: "big.jpg", channels: 3).width, 400)
    }
}
