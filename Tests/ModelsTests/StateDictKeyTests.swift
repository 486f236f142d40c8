import Foundation
import Models
import NN
import XCTest

/// Our state-dict keys and shapes equal those of torchvision's and timm's models
/// (`state_dict_keys.json`, written by `scripts/make_golden_fixtures.py --keys`), so their
/// weights load here and ours load there.
final class StateDictKeyTests: XCTestCase {
    func testKeysAndShapesMatchTorchvisionAndTimm() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("state_dict_keys.json")
        let reference = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: [String: [Int]]])
        XCTAssertEqual(reference.count, 8)
        for (name, expected) in reference.sorted(by: { $0.key < $1.key }) {
            let segmentation = name.hasPrefix("fcn_")  // torchvision's FCN: Pascal VOC's 21 classes, with the auxiliary head
            let model = try ModelZoo.make(name, classes: segmentation ? 21 : 1000, auxiliaryHead: name == "inception_v3" || segmentation)
            var ours: [String: [Int]] = [:]
            for (key, tensor) in model.namedParameters() + model.namedBuffers() { ours[key] = tensor.shape }
            for (key, _) in model.namedCounters() { ours[key] = [] }
            let missing = Set(expected.keys).subtracting(ours.keys).sorted(), extra = Set(ours.keys).subtracting(expected.keys).sorted()
            XCTAssertTrue(missing.isEmpty && extra.isEmpty, "\(name): missing \(missing.prefix(5)), extra \(extra.prefix(5))")
            for (key, shape) in expected where ours[key] != nil {
                XCTAssertEqual(ours[key], shape, "\(name) \(key)")
            }
        }
    }

    /// Issue 14, item 14: a state dict without `num_batches_tracked` (torchvision's published
    /// weights) loads, and so does one with it; a missing parameter is still an error.
    func testNumBatchesTrackedMayBeAbsent() throws {
        let source = try ModelZoo.make("resnet18", classes: 10)
        try source.initialize(.kaimingNormal, seed: 1)
        let full = Dictionary(uniqueKeysWithValues: try source.stateDict())
        let withoutCounters = full.filter { !$0.key.hasSuffix("num_batches_tracked") }
        XCTAssertLessThan(withoutCounters.count, full.count)
        for entries in [full, withoutCounters] {
            let model = try ModelZoo.make("resnet18", classes: 10)
            try model.loadStateDict(entries)
            let loaded = Dictionary(uniqueKeysWithValues: try model.stateDict())
            XCTAssertEqual(loaded["conv1.weight"], full["conv1.weight"])
            XCTAssertEqual(loaded["layer4.1.bn2.running_var"], full["layer4.1.bn2.running_var"])
        }
        var broken = withoutCounters
        broken["fc.bias"] = nil
        XCTAssertThrowsError(try ModelZoo.make("resnet18", classes: 10).loadStateDict(broken)) {
            XCTAssertTrue("\($0)".contains("missing keys: fc.bias"), "\($0)")
        }
    }
}
