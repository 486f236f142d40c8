import Foundation
import Models
import NN
import Tensors
import XCTest

/// torchvision's `resnet50` state dict loads into our `resnet50` and gives torchvision's logits
/// (issue 27, item 1: it used to load, silently, into the original ResNet). The weights are
/// recomputed from `DeterministicWeights`; `scripts/make_torchvision_fixture.py` wrote the
/// logits and torchvision's keys and shapes.
final class TorchvisionResNetTests: XCTestCase {
    func testTorchvisionsResNet50WeightsGiveItsLogits() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("torchvision_resnet50.safetensors")
        let (fixture, metadata) = try SafeTensors.read(url.path)
        let shapes = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(XCTUnwrap(metadata["shapes"]).utf8)) as? [String: [Int]])
        XCTAssertEqual(shapes.count, 267, "torchvision's resnet50 keys, without num_batches_tracked")
        // A torchvision state dict saved with safetensors, as a user brings it.
        let entries = shapes.sorted { $0.key < $1.key }.map { key, shape in
            (key, SafeTensors.Entry(floats: DeterministicWeights.values(key, shape: shape), shape: shape))
        }
        let path = NSTemporaryDirectory() + "bagoftricks-torchvision-resnet50-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write(entries, to: path)

        let expected = try XCTUnwrap(fixture["logits"]).floats()
        let input = try Tensor(shape: [2, 3, 64, 64], scalars: DeterministicWeights.uniform("input", count: 2 * 3 * 64 * 64).map { Float($0 * 4 - 2) })
        func logits(_ name: String) throws -> [Float] {
            let model = try ModelZoo.make(name, classes: 1000)
            try model.loadStateDict(SafeTensors.read(path).entries, source: path)
            model.eval()
            return try GradMode.withoutGradient { try model(input) }.scalars
        }
        let largest = expected.map(abs).max() ?? 0
        XCTAssertGreaterThan(largest, 0)
        func difference(_ ours: [Float]) -> Float { zip(ours, expected).map { abs($0 - $1) }.max()! / largest }
        XCTAssertLessThan(difference(try logits("resnet50")), 1e-5, "resnet50 is torchvision's network")
        XCTAssertGreaterThan(difference(try logits("resnet50a")), 1e-2, "the same file in the original ResNet gives other logits")
    }
}
