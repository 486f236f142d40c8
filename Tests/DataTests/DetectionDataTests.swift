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
