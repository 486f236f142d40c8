import Foundation
import Models
import Tensors
import XCTest

/// Faster R-CNN's pieces against torchvision on recorded cases (issue 29, item 3):
/// `Fixtures/detection_ops.json`, written by `scripts/make_detection_fixtures.py` with the
/// torchvision version it names.
final class DetectionOpsTests: XCTestCase {
    nonisolated(unsafe) static let cases = fixtureJSON("detection_ops.json")

    func section(_ name: String) throws -> [String: Any] {
        try XCTUnwrap(Self.cases[name] as? [String: Any], "no \(name) in detection_ops.json")
    }

    func floats(_ value: Any?) throws -> [Float] { try XCTUnwrap(value as? [Double], "not numbers").map(Float.init) }
    func ints(_ value: Any?) throws -> [Int] { try XCTUnwrap(value as? [Int], "not integers") }

    /// Largest |a - b| over max(1, |b|), with the counts equal.
    func assertClose(_ a: [Float], _ b: [Float], _ tolerance: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): counts", file: file, line: line)
        XCTAssertFalse(b.isEmpty, "\(what): nothing to compare", file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, tolerance, "\(what): worst relative difference \(worst)", file: file, line: line)
    }

    func testBoxIoU() throws {
        let c = try section("iou")
        let (a, b) = (Box.array(try floats(c["a"])), Box.array(try floats(c["b"])))
        XCTAssertEqual([a.count, b.count], [7, 5])
        assertClose(boxIoU(a, b), try floats(c["iou"]), 1e-6, "box_iou")
    }

    func testBoxCoderBothWeightings() throws {
        let coders = try XCTUnwrap(Self.cases["box_coder"] as? [[String: Any]])
        XCTAssertEqual(coders.count, 2)
        for c in coders {
            let w = try floats(c["weights"])
            let coder = BoxCoder(weights: (w[0], w[1], w[2], w[3]))
            let (gt, proposals) = (Box.array(try floats(c["gt"])), Box.array(try floats(c["proposals"])))
            assertClose(coder.encode(gt, proposals: proposals), try floats(c["targets"]), 1e-5, "encode \(w)")
            let decoded = coder.decode(try floats(c["codes"]), references: proposals)
            // Codes past the clamp (dw 30, dh 25) decode to boxes of about 62x their reference.
            assertClose(decoded.flatMap(\.values), try floats(c["decoded"]), 1e-5, "decode \(w)")
        }
    }

    func testAnchorsOfFasterRCNNResNet50FPN() throws {
        let c = try section("anchors")
        let generator = AnchorGenerator(sizes: try floats(c["sizes"]), aspectRatios: try floats(c["ratios"]))
        let recorded = try XCTUnwrap(c["cases"] as? [[String: Any]])
        XCTAssertEqual(recorded.count, 2)
        for r in recorded {
            let image = try ints(r["image"])
            let maps = try XCTUnwrap(r["maps"] as? [[Int]]).map { (height: $0[0], width: $0[1]) }
            let levels = generator.anchors(imageSize: (image[0], image[1]), featureSizes: maps)
            let expected = try XCTUnwrap(r["levels"] as? [[String: Any]])
            XCTAssertEqual(levels.count, expected.count)
            for (level, (ours, theirs)) in zip(levels, expected).enumerated() {
                XCTAssertEqual(ours.count, theirs["count"] as? Int, "level \(level) of \(image)")
                // Integer shifts plus rounded base anchors: exact.
                XCTAssertEqual(ours.prefix(30).flatMap(\.values), try floats(theirs["first"]), "level \(level) of \(image), first anchors")
                XCTAssertEqual(ours.suffix(30).flatMap(\.values), try floats(theirs["last"]), "level \(level) of \(image), last anchors")
            }
        }
    }

    func testNMSAndBatchedNMS() throws {
        let c = try section("nms")
        let boxes = Box.array(try floats(c["boxes"])), scores = try floats(c["scores"]), labels = try ints(c["labels"])
        XCTAssertEqual(boxes.count, 60)
        for threshold in ["0.5", "0.7"] {
            let expected = try ints(c["keep_" + threshold])
            XCTAssertLessThan(expected.count, boxes.count, "some boxes are suppressed at \(threshold)")
            XCTAssertEqual(try nms(boxes, scores: scores, threshold: Float(threshold)!), expected, "nms \(threshold)")
        }
        XCTAssertEqual(try batchedNMS(boxes, scores: scores, classes: labels, threshold: 0.5), try ints(c["batched_keep_0.5"]))
        XCTAssertEqual(try nms([], scores: [], threshold: 0.5), [])
        XCTAssertEqual(try batchedNMS([], scores: [], classes: [], threshold: 0.5), [])
    }

    /// More than 1,000 boxes take torchvision's class-by-class path; it keeps what one NMS over
    /// the boxes of each class keeps.
    func testBatchedNMSOfManyBoxesSuppressesWithinEachClassOnly() throws {
        var generator = SeededGenerator(seed: 3)
        let boxes = (0..<1200).map { _ -> Box in
            let (x, y) = (Float.random(in: 0...200, using: &generator), Float.random(in: 0...200, using: &generator))
            return Box(x, y, x + Float.random(in: 5...60, using: &generator), y + Float.random(in: 5...60, using: &generator))
        }
        let scores = (0..<1200).map { _ in Float.random(in: 0...1, using: &generator) }, classes = (0..<1200).map { $0 % 4 }
        let kept = try batchedNMS(boxes, scores: scores, classes: classes, threshold: 0.5)
        XCTAssertEqual(kept, kept.sorted { scores[$0] > scores[$1] }, "highest score first")
        for c in 0..<4 {
            let members = classes.indices.filter { classes[$0] == c }
            let alone = try nms(members.map { boxes[$0] }, scores: members.map { scores[$0] }, threshold: 0.5).map { members[$0] }
            XCTAssertEqual(kept.filter { classes[$0] == c }, alone, "class \(c)")
        }
    }

    func testClipAndSmallBoxes() throws {
        let c = try section("clip")
        let boxes = Box.array(try floats(c["boxes"]))
        let clipped = boxes.map { $0.clipped(height: 50, width: 70) }
        XCTAssertEqual(clipped.flatMap(\.values), try floats(c["clipped"]))
        XCTAssertEqual(boxesAtLeast(5, in: clipped), try ints(c["keep_min_size_5"]))
    }

    func testRoILevels() throws {
        let c = try section("levels")
        let boxes = Box.array(try floats(c["boxes"]))
        let expected = try ints(c["levels"])
        XCTAssertEqual(boxes.map(RoILevels().level(of:)), expected)
        XCTAssertEqual(Set(expected).count, 4, "every level 2..5 is used by some box")
    }

    /// torchvision's RoIAlign (7x7, sampling ratio 2, aligned=False), forward and backward, with
    /// boxes partly outside the image and one under a feature pixel, on both host backends.
    func testRoIAlignForwardAndBackward() throws {
        let c = try section("roi_align")
        let shape = try ints(c["input_shape"]), rois = try floats(c["rois"])
        let geometry = RoIAlignGeometry(
            boxes: (0..<(rois.count / 5)).flatMap { Array(rois[(5 * $0 + 1)..<(5 * $0 + 5)]) },
            batchIndices: (0..<(rois.count / 5)).map { Int(rois[5 * $0]) }, outputSize: (7, 7),
            spatialScale: try XCTUnwrap((c["spatial_scale"] as? Double).map(Float.init)), samplingRatio: 2)
        for device in [Device.cpu, .reference] {
            let x = try Tensor(shape: shape, scalars: try floats(c["input"]), requiresGrad: true, device: device)
            let y = try roiAlign(x, geometry)
            XCTAssertEqual(y.shape, [5, shape[1], 7, 7])
            assertClose(try y.scalars, try floats(c["output"]), 1e-5, "roi_align forward on \(device)")
            let grad = try Tensor(shape: y.shape, scalars: try floats(c["grad_output"]), device: device)
            try sum(multiply(y, grad)).backward()
            assertClose(try XCTUnwrap(x.grad).scalars, try floats(c["grad_input"]), 1e-5, "roi_align backward on \(device)")
        }
    }

    /// The op's gradient against finite differences, with the adaptive sampling (ratio 0).
    func testRoIAlignGradientMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 8)
        let values = (0..<(2 * 2 * 6 * 7)).map { _ in Float.random(in: -1...1, using: &generator) }
        let geometry = RoIAlignGeometry(boxes: [1, 2, 20, 17, -3, 0, 9, 30, 5, 5, 6, 6], batchIndices: [0, 1, 1],
                                        outputSize: (3, 2), spatialScale: 0.25, samplingRatio: 0)
        let weights: [Float] = (0..<(3 * 2 * 3 * 2)).map { (i: Int) -> Float in Float(i % 7) - 3 }
        func loss(_ v: [Float]) throws -> Float {
            let y = try roiAlign(Tensor(shape: [2, 2, 6, 7], scalars: v), geometry)
            return try zip(y.scalars, weights).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let x = try Tensor(shape: [2, 2, 6, 7], scalars: values, requiresGrad: true)
        try sum(multiply(roiAlign(x, geometry), Tensor(shape: [3, 2, 3, 2], scalars: weights))).backward()
        let analytic = try XCTUnwrap(x.grad).scalars
        // RoIAlign is linear in its input: central differences are exact up to rounding.
        for i in stride(from: 0, to: values.count, by: 5) {
            var (up, down) = (values, values)
            up[i] += 0.01
            down[i] -= 0.01
            let numeric = (try loss(up) - loss(down)) / 0.02
            XCTAssertEqual(analytic[i], numeric, accuracy: 2e-3, "element \(i)")
        }
    }

    /// The FPN's top-down resize equals `F.interpolate(mode="nearest")`, forward and backward,
    /// growing to odd sizes (a padded batch's coarse levels) and shrinking.
    func testNearestResizeMatchesPyTorch() throws {
        let recorded = try XCTUnwrap(Self.cases["nearest"] as? [[String: Any]])
        XCTAssertEqual(recorded.count, 3)
        for c in recorded {
            let size = try ints(c["size"])
            let x = try Tensor(shape: [1, 2, 7, 9], scalars: try floats(c["input"]), requiresGrad: true)
            let y = try upsampleNearest2d(x, size: (size[0], size[1]))
            XCTAssertEqual(try y.scalars, try floats(c["output"]), "forward to \(size)")
            try sum(multiply(y, Tensor(shape: y.shape, scalars: try floats(c["grad_output"])))).backward()
            assertClose(try XCTUnwrap(x.grad).scalars, try floats(c["grad_input"]), 1e-6, "backward to \(size)")
        }
    }

    /// The RPN's objectness loss (BCE with logits, mean over the sampled anchors) and the box
    /// loss (smooth L1, beta 1/9, summed over the positives and divided by all sampled), values
    /// and gradients, against PyTorch's functions.
    func testLossesMatchPyTorch() throws {
        let c = try section("losses")
        let (logits, labels, sampled) = (try floats(c["logits"]), try floats(c["labels"]), try ints(c["sampled"]))
        var weights = [Float](repeating: 0, count: logits.count)
        for i in sampled { weights[i] = 1 }
        let x = try Tensor(shape: [logits.count], scalars: logits, requiresGrad: true)
        let bce = try binaryCrossEntropyWithLogits(x, LossSelection(targets: labels, weights: weights, divisor: Float(sampled.count)))
        XCTAssertEqual(try bce.item(), Float(try XCTUnwrap(c["bce"] as? Double)), accuracy: 1e-5)
        try bce.backward()
        assertClose(try XCTUnwrap(x.grad).scalars, try floats(c["bce_grad"]), 1e-6, "bce gradient")

        let (codes, targets, positive) = (try floats(c["codes"]), try floats(c["targets"]), try ints(c["positive"]))
        var boxWeights = [Float](repeating: 0, count: codes.count)
        for i in positive { for k in 0..<4 { boxWeights[4 * i + k] = 1 } }
        let y = try Tensor(shape: [codes.count / 4, 4], scalars: codes, requiresGrad: true)
        let smooth = try smoothL1Loss(y, LossSelection(targets: targets, weights: boxWeights, divisor: 25), beta: 1.0 / 9)
        XCTAssertEqual(try smooth.item(), Float(try XCTUnwrap(c["smooth_l1"] as? Double)), accuracy: 1e-5)
        try smooth.backward()
        assertClose(try XCTUnwrap(y.grad).scalars, try floats(c["smooth_l1_grad"]), 1e-6, "smooth L1 gradient")
        XCTAssertThrowsError(try smoothL1Loss(y, LossSelection(targets: [0], weights: [1], divisor: 1), beta: 1)) {
            XCTAssertTrue("\($0)".contains("input [30, 4] has 120 elements but 1 targets"), "\($0)")
        }
    }

    /// torchvision's `Matcher` for the RPN (0.7 / 0.3, low-quality matches kept) and the box
    /// head (0.5 / 0.5).
    func testMatcherMatchesTorchvision() throws {
        let c = try section("matcher")
        let (truths, predictions) = (Box.array(try floats(c["truths"])), Box.array(try floats(c["predictions"])))
        let rpn = try ints(c["rpn"]), box = try ints(c["box"])
        XCTAssertTrue(rpn.contains(-2) && rpn.contains(-1) && rpn.contains { $0 >= 0 }, "every kind of match occurs: \(rpn)")
        XCTAssertEqual(fasterRCNNMatch(truths, predictions, high: 0.7, low: 0.3, lowQuality: true), rpn)
        XCTAssertEqual(fasterRCNNMatch(truths, predictions, high: 0.5, low: 0.5, lowQuality: false), box)
        XCTAssertEqual(fasterRCNNMatch([], predictions, high: 0.5, low: 0.5, lowQuality: false), [Int](repeating: -1, count: predictions.count))
    }

    /// VOC AP (11-point and area, difficult boxes ignored) equals GluonCV's metric, restated in
    /// the fixture script, on 20 images of 4 classes.
    func testVOCAveragePrecisionMatchesGluonCV() throws {
        let c = try section("voc")
        let images = try XCTUnwrap(c["images"] as? [[String: Any]])
        var evaluation = VOCEvaluation(classes: 5)
        for image in images {
            let boxes = Box.array(try floats(image["det_boxes"])), labels = try ints(image["det_labels"]), scores = try floats(image["det_scores"])
            let detections = boxes.indices.map { Detection(box: boxes[$0], label: labels[$0], score: scores[$0]) }
            evaluation.add(detections, truth: Box.array(try floats(image["gt_boxes"])), labels: try ints(image["gt_labels"]),
                           difficult: try XCTUnwrap(image["difficult"] as? [Bool]))
        }
        for (elevenPoint, key) in [(true, "ap07"), (false, "ap")] {
            let expected = try XCTUnwrap(c[key] as? [Double?])
            let ours = evaluation.averagePrecisions(elevenPoint: elevenPoint)
            XCTAssertEqual(ours.count, 5)
            XCTAssertNil(ours[0], "the background has no AP")
            XCTAssertTrue(expected.allSatisfy { ($0 ?? 0) > 0 }, "every class has some AP to compare: \(expected)")
            for (l, (a, b)) in zip(ours.dropFirst(), expected).enumerated() {
                XCTAssertEqual(try XCTUnwrap(a), try XCTUnwrap(b), accuracy: 1e-6, "\(key) of class \(l + 1)")
            }
            let mean = expected.compactMap { $0 }.reduce(0, +) / Double(expected.count)
            XCTAssertEqual(try XCTUnwrap(evaluation.meanAveragePrecision(elevenPoint: elevenPoint)), mean, accuracy: 1e-6)
        }
        // Perfect detections score 1; none score 0.
        var perfect = VOCEvaluation(classes: 3), none = VOCEvaluation(classes: 3)
        let truth = [Box(0, 0, 10, 10), Box(20, 20, 40, 30)]
        perfect.add([Detection(box: truth[0], label: 1, score: 0.9), Detection(box: truth[1], label: 2, score: 0.8)], truth: truth, labels: [1, 2])
        none.add([], truth: truth, labels: [1, 2])
        XCTAssertEqual(try XCTUnwrap(perfect.meanAveragePrecision(elevenPoint: true)), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(perfect.meanAveragePrecision(elevenPoint: false)), 1, accuracy: 1e-12)
        XCTAssertEqual(none.meanAveragePrecision(elevenPoint: false), 0)
    }

    func testRoIAlignRefusesRegionsOffTheBatch() throws {
        let x = try Tensor(shape: [1, 1, 4, 4], scalars: [Float](repeating: 1, count: 16))
        let wrongImage = RoIAlignGeometry(boxes: [0, 0, 2, 2], batchIndices: [1], outputSize: (2, 2), spatialScale: 1, samplingRatio: 2)
        XCTAssertThrowsError(try roiAlign(x, wrongImage)) { XCTAssertTrue("\($0)".contains("region 0 is on image 1 of a batch of 1"), "\($0)") }
        let short = RoIAlignGeometry(boxes: [0, 0, 2], batchIndices: [0], outputSize: (2, 2), spatialScale: 1, samplingRatio: 2)
        XCTAssertThrowsError(try roiAlign(x, short)) { XCTAssertTrue("\($0)".contains("3 box values for 1 regions"), "\($0)") }
    }
}

/// A JSON object from `Fixtures/` (empty if the file is missing or not an object, so that the
/// tests reading it fail by naming the section they lack).
func fixtureJSON(_ name: String) -> [String: Any] {
    guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.appendingPathComponent(name),
          let data = try? Data(contentsOf: url),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
    return object
}
