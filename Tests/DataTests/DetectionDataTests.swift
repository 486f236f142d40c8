import Data
import Foundation
import Tensors
import XCTest

/// The built-in detection scenes (issue 29, item 4a).
final class DetectionDataTests: XCTestCase {
    func testScenesAreDeterministicAndTheirBoxesAreTight() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        let scenes = try GarmentDetectionScenes.builtIn(train: false, count: 200, size: 96)
        var (empty, objects, classes) = (0, 0, Set<Int>())
        for i in 0..<scenes.count {
            let scene = try scenes.sample(at: i)
            XCTAssertEqual(scene, try scenes.sample(at: i), "scene \(i) is the same every time")
            XCTAssertEqual(scene.boxes.count, scene.labels.count)
            if scene.boxes.isEmpty { empty += 1 }
            objects += scene.boxes.count
            classes.formUnion(scene.labels)
            let image = scene.image
            func bright(_ x: Int, _ y: Int) -> Bool { image.pixels[y * image.width + x] > scenes.threshold }
            for (box, label) in zip(scene.boxes, scene.labels) {
                XCTAssertTrue((1...10).contains(label))
                let (x1, y1, x2, y2) = (Int(box[0]), Int(box[1]), Int(box[2]), Int(box[3]))
                XCTAssertTrue(0 <= x1 && x1 < x2 && x2 <= 96 && 0 <= y1 && y1 < y2 && y2 <= 96, "scene \(i): box \(box)")
                // Tight: each edge of the box runs through a drawn pixel (later garments only add bright ones).
                XCTAssertTrue((y1..<y2).contains { bright(x1, $0) } && (y1..<y2).contains { bright(x2 - 1, $0) }, "scene \(i): box \(box)")
                XCTAssertTrue((x1..<x2).contains { bright($0, y1) } && (x1..<x2).contains { bright($0, y2 - 1) }, "scene \(i): box \(box)")
            }
            // Everything bright is inside some box: nothing drawn goes unlabelled.
            for y in 0..<96 { for x in 0..<96 where bright(x, y) {
                XCTAssertTrue(scene.boxes.contains { Float(x) >= $0[0] && Float(x) < $0[2] && Float(y) >= $0[1] && Float(y) < $0[3] }, "scene \(i): (\(x), \(y))")
            } }
        }
        XCTAssertTrue((8...35).contains(empty), "about a tenth of 200 scenes are empty, got \(empty)")
        XCTAssertGreaterThan(objects, 300)
        XCTAssertEqual(classes.count, 10)
        XCTAssertThrowsError(try GarmentDetectionScenes.builtIn(train: false, count: 1, emptyFraction: 2)) {
            XCTAssertTrue("\($0)".contains("--empty-fraction: must be in [0, 1], got 2.0"), "\($0)")
        }
    }
}

/// Pascal VOC and COCO detection readers (issue 29, item 4): what they read, and the one clear
/// error, naming the file and the object, for each kind of bad input.
final class DetectionReaderTests: XCTestCase {
    /// A VOC2007 folder of two 40x30 images: a dog and a difficult cat; a person.
    func vocFolder(annotations: [String: String]? = nil, images: [String] = ["000001", "000002"]) throws -> String {
        let root = try temporaryFolder()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let voc = root + "/VOC2007"
        for sub in ["Annotations", "JPEGImages", "ImageSets/Main"] {
            try FileManager.default.createDirectory(atPath: voc + "/" + sub, withIntermediateDirectories: true)
        }
        for (n, id) in images.enumerated() { try write(ImageCodec.encodeJPEG(pattern(width: 40, height: 30, channels: 3, seed: n)), to: "\(voc)/JPEGImages/\(id).jpg") }
        let objects = { (name: String, box: [Int], difficult: Int) in
            "<object><name>\(name)</name><difficult>\(difficult)</difficult><bndbox><xmin>\(box[0])</xmin><ymin>\(box[1])</ymin>"
                + "<xmax>\(box[2])</xmax><ymax>\(box[3])</ymax></bndbox></object>"
        }
        let files = annotations ?? [
            "000001": objects("dog", [1, 2, 20, 25], 0) + objects("cat", [10, 5, 40, 30], 1),
            "000002": objects("person", [5, 5, 15, 28], 0),
        ]
        for (id, body) in files {
            try write(Array("<annotation><filename>\(id).jpg</filename><size><width>40</width><height>30</height><depth>3</depth></size>\(body)</annotation>".utf8),
                      to: "\(voc)/Annotations/\(id).xml")
        }
        try write(Array(files.keys.sorted().joined(separator: "\n").utf8), to: voc + "/ImageSets/Main/trainval.txt")
        return root
    }

    func testVOCReadsBoxesAsPixelEdgesAndKeepsDifficult() throws {
        let voc = try VOCDetection(root: try vocFolder(), split: "trainval")
        XCTAssertEqual(voc.classes, VOCDetection.vocClasses, "VOC's 20 classes, in their order")
        XCTAssertEqual(voc.count, 2)
        let first = try voc.checkedSample(at: 0)
        XCTAssertEqual(first.boxes, [[0, 1, 20, 25], [9, 4, 40, 30]], "xmin - 1, ymin - 1, xmax, ymax")
        XCTAssertEqual(first.labels, [12, 8], "dog is VOC class 12 and cat 8 (1-based, the background 0)")
        XCTAssertEqual(first.difficult, [false, true])
        XCTAssertEqual(first.trainingObjects.labels, [12], "difficult objects do not train")
        XCTAssertEqual([first.image.width, first.image.height, first.image.channels], [40, 30, 3])
        XCTAssertTrue(voc.source(of: 1).hasSuffix("VOC2007/JPEGImages/000002.jpg"))
    }

    func testVOCWithOtherClassesNumbersThemSorted() throws {
        let body = "<object><name>zebra</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
            + "<object><name>apple</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>8</xmax><ymax>8</ymax></bndbox></object>"
        let voc = try VOCDetection(root: try vocFolder(annotations: ["000001": body], images: ["000001"]), split: "trainval")
        XCTAssertEqual(voc.classes, ["apple", "zebra"])
        XCTAssertEqual(try voc.checkedSample(at: 0).labels, [2, 1])
    }

    func testVOCErrorsNameTheFileAndObject() throws {
        let box = { (b: String) in "<object><name>dog</name><bndbox>\(b)</bndbox></object>" }
        let cases: [(String, String)] = [
            // VOC's corners are inclusive pixels: xmin = xmax is one column wide; xmax < xmin has no area.
            (box("<xmin>6</xmin><ymin>5</ymin><xmax>5</xmax><ymax>9</ymax>"), "000001.xml: object 1 (dog): box (5, 4, 5, 9) has no area"),
            (box("<xmin>5</xmin><ymin>5</ymin><xmax>45</xmax><ymax>9</ymax>"), "000001.xml: object 1 (dog): box (4, 4, 45, 9) leaves the 40x30 image"),
            (box("<xmin>5</xmin><ymin>5</ymin><ymax>9</ymax>"), "000001.xml: object 1 (dog): <bndbox><xmax> is missing or not a number"),
            ("<object><name>dog</name><bndbox><xmin>5</xmin></object>", "000001.xml: is not well-formed XML"),
        ]
        for (body, message) in cases {
            XCTAssertThrowsError(try VOCDetection(root: try vocFolder(annotations: ["000001": body], images: ["000001"]), split: "trainval")) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
        let missing = try vocFolder(images: ["000001"])
        XCTAssertThrowsError(try VOCDetection(root: missing, split: "trainval")) {
            XCTAssertTrue("\($0)".contains("JPEGImages/000002.jpg: is missing (listed in"), "\($0)")
        }
        XCTAssertThrowsError(try VOCDetection(root: missing, split: "test")) {
            XCTAssertTrue("\($0)".contains("ImageSets/Main/test.txt: cannot be read"), "\($0)")
        }
    }

    /// A COCO file for two 40x30 images (one with a box and a crowd, one empty) under a folder.
    func cocoFiles(_ json: String? = nil, writeImages: Bool = true) throws -> (String, String) {
        let root = try temporaryFolder()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        if writeImages {
            for n in 0..<2 { try write(ImageCodec.encodeJPEG(pattern(width: 40, height: 30, channels: 3, seed: n)), to: "\(root)/\(n).jpg") }
        }
        let text = json ?? """
            {"images": [{"id": 7, "file_name": "0.jpg", "width": 40, "height": 30}, {"id": 9, "file_name": "1.jpg", "width": 40, "height": 30}],
             "annotations": [{"id": 1, "image_id": 7, "category_id": 18, "bbox": [2, 3, 10, 20], "iscrowd": 0},
                             {"id": 2, "image_id": 7, "category_id": 1, "bbox": [20, 0, 20, 30], "iscrowd": 1}],
             "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}]}
            """
        try write(Array(text.utf8), to: root + "/instances.json")
        return (root + "/instances.json", root)
    }

    func testCOCOReadsBoxesCrowdsAndEmptyImages() throws {
        let (file, folder) = try cocoFiles()
        let coco = try COCODetection(annotationFile: file, imageFolder: folder)
        XCTAssertEqual(coco.classes, ["person", "dog"], "categories in the order of their ids")
        XCTAssertEqual(coco.categoryIDs, [1, 18])
        XCTAssertEqual(coco.imageIDs, [7, 9])
        let first = try coco.checkedSample(at: 0)
        XCTAssertEqual(first.boxes, [[2, 3, 12, 23], [20, 0, 40, 30]], "[x, y, w, h] as (x1, y1, x2, y2)")
        XCTAssertEqual(first.labels, [2, 1])
        XCTAssertEqual(first.difficult, [false, true], "the crowd is kept for evaluation only")
        XCTAssertEqual(first.trainingObjects.boxes, [[2, 3, 12, 23]])
        XCTAssertEqual(try coco.checkedSample(at: 1).boxes, [], "an image without annotations trains with empty targets")
    }

    func testCOCOErrorsNameTheFileAndAnnotation() throws {
        let image = #"{"id": 7, "file_name": "0.jpg", "width": 40, "height": 30}"#
        let category = #"{"id": 1, "name": "person"}"#
        func file(_ annotation: String) -> String { #"{"images": [\#(image)], "annotations": [\#(annotation)], "categories": [\#(category)]}"# }
        let cases: [(String, String)] = [
            (file(#"{"id": 4, "image_id": 7, "category_id": 1, "bbox": [5, 5, 0, 9]}"#), "annotation id 4 (image 0.jpg): box (5, 5, 5, 14) has no area"),
            (file(#"{"id": 4, "image_id": 7, "category_id": 1, "bbox": [30, 5, 20, 9]}"#), "annotation id 4 (image 0.jpg): box (30, 5, 50, 14) leaves the 40x30 image"),
            (file(#"{"id": 4, "image_id": 8, "category_id": 1, "bbox": [5, 5, 2, 2]}"#), "annotation id 4 names image id 8, which is not in `images`"),
            (file(#"{"id": 4, "image_id": 7, "category_id": 3, "bbox": [5, 5, 2, 2]}"#), "annotation id 4 names category id 3, which is not in `categories`"),
            (file(#"{"id": 4, "image_id": 7, "category_id": 1}"#), "annotations[0].bbox is missing"),
            (#"{"images": [\#(image)], "annotations": ["#, "not valid JSON"),
        ]
        for (json, message) in cases {
            let (path, folder) = try cocoFiles(json)
            XCTAssertThrowsError(try COCODetection(annotationFile: path, imageFolder: folder)) {
                XCTAssertTrue("\($0)".contains("instances.json: ") && "\($0)".contains(message), "\($0)")
            }
        }
        let (path, folder) = try cocoFiles(writeImages: false)
        XCTAssertThrowsError(try COCODetection(annotationFile: path, imageFolder: folder)) {
            XCTAssertTrue("\($0)".contains("0.jpg: is missing (image id 7 of"), "\($0)")
        }
    }

    /// The flip mirrors the pixels and moves each box with them: x1' = W - x2, x2' = W - x1.
    func testHorizontalFlipMovesTheBoxes() throws {
        var image = Image(width: 10, height: 4, channels: 1, pixels: [Float](repeating: 0, count: 40))
        for y in 1..<3 { for x in 1..<4 { image.pixels[y * 10 + x] = 200 } }  // a bright 3x2 block at x 1...3, y 1...2
        let sample = DetectionSample(image: image, boxes: [[1, 1, 4, 3]], labels: [1])
        let flipped = sample.flippedHorizontally()
        XCTAssertEqual(flipped.boxes, [[6, 1, 9, 3]])
        for y in 0..<4 { for x in 0..<10 {
            let inside = x >= 6 && x < 9 && y >= 1 && y < 3
            XCTAssertEqual(flipped.image.pixels[y * 10 + x], inside ? 200 : 0, "pixel (\(x), \(y))")
        } }
        XCTAssertEqual(flipped.flippedHorizontally(), sample, "twice is the identity")
    }

    func testBadSamplesAreRefusedByName() {
        let image = Image(width: 10, height: 10, channels: 1, pixels: [Float](repeating: 0, count: 100))
        XCTAssertThrowsError(try DetectionSample(image: image, boxes: [[1, 1, 5, 5]], labels: [11]).validate(source: "scene 3", classes: 10)) {
            XCTAssertEqual("\($0)", "scene 3: object 1 has class 11, not one of 1 ... 10")
        }
        XCTAssertThrowsError(try DetectionSample(image: image, boxes: [[1, .nan, 5, 5]], labels: [1]).validate(source: "scene 3", classes: 10)) {
            XCTAssertTrue("\($0)".contains("scene 3: object 1: box"), "\($0)")
        }
    }
}
