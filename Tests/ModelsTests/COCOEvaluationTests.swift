import Foundation
import Models
import XCTest

/// COCO's box AP (issue 29, item 5) against pycocotools' `COCOeval` on recorded cases
/// (`scripts/make_coco_eval_fixture.py`): crowds, empty images, a class without ground truth,
/// tied scores and more than 100 detections on one image. `make test` also runs it on cases
/// pycocotools evaluated moments before (`scripts/check_coco_eval.sh` sets COCO_EVAL_CASES).
final class COCOEvaluationTests: XCTestCase {
    func testAPMatchesPycocotools() throws {
        let fixture: [String: Any]
        if let path = ProcessInfo.processInfo.environment["COCO_EVAL_CASES"] {
            fixture = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any], path)
        } else {
            fixture = try fixtureJSON("coco_eval.json")
        }
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]], "the fixture is missing")
        XCTAssertEqual(cases.count, 2)
        for (n, c) in cases.enumerated() {
            var evaluation = COCOEvaluation(classes: try XCTUnwrap(c["classes"] as? Int))
            var crowds = 0
            for image in try XCTUnwrap(c["images"] as? [[String: Any]]) {
                let truth = try XCTUnwrap(image["truth"] as? [[Double]]), found = try XCTUnwrap(image["detections"] as? [[Double]])
                let box = { (v: [Double]) in Box(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3])) }
                crowds += truth.filter { $0[5] == 1 }.count
                evaluation.add(found.map { Detection(box: box($0), label: Int($0[4]), score: Float($0[5])) },
                               truth: truth.map(box), labels: truth.map { Int($0[4]) }, crowd: truth.map { $0[5] == 1 })
            }
            XCTAssertGreaterThan(crowds, 0, "case \(n) has crowds to ignore")
            let ours = try XCTUnwrap(evaluation.summary())
            for (name, value) in [("ap", ours.ap), ("ap50", ours.ap50), ("ap75", ours.ap75)] {
                let expected = try XCTUnwrap(c[name] as? Double)
                // AP75 of the noisier case may be near 0 on some draws; AP and AP50 are not.
                if name != "ap75" { XCTAssertGreaterThan(expected, 0.01, "case \(n): \(name) is not trivially 0") }
                XCTAssertEqual(value, expected, accuracy: 1e-4, "case \(n): \(name)")
            }
        }
    }

    /// Perfect detections score 1 at every threshold; no detections 0; no ground truth at all: nil.
    func testPerfectAndEmpty() throws {
        let truth = [Box(0, 0, 10, 10), Box(20, 20, 40, 30)]
        var perfect = COCOEvaluation(classes: 3), none = COCOEvaluation(classes: 3), nothing = COCOEvaluation(classes: 3)
        perfect.add([Detection(box: truth[0], label: 1, score: 0.9), Detection(box: truth[1], label: 2, score: 0.8)], truth: truth, labels: [1, 2])
        none.add([], truth: truth, labels: [1, 2])
        nothing.add([Detection(box: truth[0], label: 1, score: 0.9)], truth: [], labels: [])
        let p = try XCTUnwrap(perfect.summary()), z = try XCTUnwrap(none.summary())
        XCTAssertEqual(p.ap, 1, accuracy: 1e-12)
        XCTAssertEqual(p.ap75, 1, accuracy: 1e-12)
        XCTAssertEqual(z.ap, 0)
        XCTAssertNil(nothing.summary())
    }
}
