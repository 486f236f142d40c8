import Data
import Foundation
import XCTest

/// Mask PNGs and the Pascal VOC and ADE20K layouts (issue 13), on folders made here.
final class SegmentationFolderTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "bagoftricks-segfolders-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func write(_ bytes: [UInt8], _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    }

    func photo(_ width: Int, _ height: Int) throws -> [UInt8] {
        try ImageCodec.encodeJPEG(Image(width: width, height: height, channels: 3, bytes: (0..<width * height * 3).map { UInt8($0 % 251) }))
    }

    func testPaletteMasksKeepTheirLabels() throws {
        let mask = Mask(width: 5, height: 3, labels: [0, 1, 2, 20, 255, 7, 7, 0, 0, 15, 3, 255, 255, 1, 0])
        let png = try ImageCodec.encodeMask(mask)
        XCTAssertEqual(try ImageCodec.decodeMask(png, path: "m.png"), mask)
        // A grey PNG's levels are labels too (ADE20K's annotations).
        let grey = try ImageCodec.encodePNG(Image(width: 3, height: 1, channels: 1, bytes: [0, 5, 150]))
        XCTAssertEqual(try ImageCodec.decodeMask(grey, path: "g.png").labels, [0, 5, 150])
        // VOC's colours: 1 is dark red, 255 (the border) is light beige.
        XCTAssertEqual(Array(Mask.vocPalette[3..<6]), [128, 0, 0])
        XCTAssertEqual(Array(Mask.vocPalette[765..<768]), [224, 224, 192])
        let colour = try ImageCodec.encodePNG(Image(width: 2, height: 1, channels: 3, bytes: [1, 2, 3, 4, 5, 6]))
        XCTAssertThrowsError(try ImageCodec.decodeMask(colour, path: "c.png")) { XCTAssertTrue("\($0)".contains("c.png: cannot read as a mask: a mask must be a palette or grey PNG"), "\($0)") }
    }

    func testPascalVOCLayout() throws {
        for id in ["a", "b"] { try write(photo(6, 4), root + "/JPEGImages/\(id).jpg") }
        try write(ImageCodec.encodeMask(Mask(width: 6, height: 4, labels: (0..<24).map { $0 < 20 ? UInt8($0 % 21) : 255 })), root + "/SegmentationClass/a.png")
        try write(ImageCodec.encodeMask(Mask(width: 5, height: 4, labels: [UInt8](repeating: 1, count: 20))), root + "/SegmentationClass/b.png")
        try write(Array("a\nb\n".utf8), root + "/ImageSets/Segmentation/train.txt")
        let voc = try VOCSegmentation(root: root, split: "train")
        XCTAssertEqual(voc.count, 2)
        XCTAssertEqual(voc.classes.count, 21)
        let (image, mask) = try voc.sample(at: 0)
        XCTAssertEqual([image.width, image.height, image.channels], [6, 4, 3])
        XCTAssertEqual(mask.labels[19], 19)
        XCTAssertEqual(mask.labels[23], 255, "the border stays the ignore label")
        XCTAssertThrowsError(try voc.sample(at: 1)) { XCTAssertTrue("\($0)".contains("b.png: is 5x4 but its image"), "\($0)") }
        // A label past the classes is named with its file; a listed image without a mask is refused at once.
        try write(ImageCodec.encodeMask(Mask(width: 6, height: 4, labels: [UInt8](repeating: 30, count: 24))), root + "/SegmentationClass/b.png")
        try write(photo(6, 4), root + "/JPEGImages/b.jpg")
        XCTAssertThrowsError(try voc.sample(at: 1)) { XCTAssertTrue("\($0)".contains("b.png: has label 30, outside the 21 classes"), "\($0)") }
        try write(Array("a\nc\n".utf8), root + "/ImageSets/Segmentation/val.txt")
        XCTAssertThrowsError(try VOCSegmentation(root: root, split: "val")) { XCTAssertTrue("\($0)".contains("c.jpg: listed in"), "\($0)") }
    }

    func testADE20KLayout() throws {
        try write(photo(4, 2), root + "/images/training/ADE_train_1.jpg")
        try write(ImageCodec.encodePNG(Image(width: 4, height: 2, channels: 1, bytes: [0, 1, 2, 150, 0, 0, 3, 3])),
                  root + "/annotations/training/ADE_train_1.png")
        let ade = try ADE20K(root: root, split: "training")
        XCTAssertEqual(ade.count, 1)
        XCTAssertEqual(ade.classes.count, 150)
        XCTAssertEqual(try ade.sample(at: 0).mask.labels, [255, 0, 1, 149, 255, 255, 2, 2], "0 is unlabelled; class k is k - 1")
        try write(photo(4, 2), root + "/images/training/ADE_train_2.jpg")
        XCTAssertThrowsError(try ADE20K(root: root, split: "training")) { XCTAssertTrue("\($0)".contains("ADE_train_2.png: is missing"), "\($0)") }
    }
}
