import Foundation
import Models
import NN
import Tensors
import XCTest

/// Our ResNets and timm's MobileNet v1 against numbers PyTorch and timm computed from the same weights
/// (`scripts/make_golden_fixtures.py`). Tolerance: |ours - theirs| <= 1e-4 x max|theirs|,
/// elementwise, for logits, loss, gradients and running statistics.
final class GoldenTests: XCTestCase {
    func fixture(_ name: String) throws -> [String: SafeTensors.Entry] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name + ".safetensors")
        return try SafeTensors.read(url.path).entries
    }

    func assertClose(_ ours: Tensor, _ theirs: SafeTensors.Entry?, _ what: String, tolerance: Float = 1e-4,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try XCTUnwrap(theirs, "fixture lacks \(what)", file: file, line: line).floats()
        let actual = try ours.scalars
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        let scale = expected.map(abs).max() ?? 1
        let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance * scale, "\(what): worst difference \(worst), scale \(scale)", file: file, line: line)
    }

    func check(_ name: String, config: ResNetConfig, gradients: [String], batchNorm: String) throws {
        try check(name, model: ResNet(config), gradients: gradients, batchNorm: batchNorm)
    }

    func check(_ name: String, model: Module, gradients: [String], batchNorm: String, gradientTolerance: Float = 1e-4) throws {
        let entries = try fixture(name)
        let weights = Dictionary(uniqueKeysWithValues: entries.compactMap { key, value in
            key.hasPrefix("model.") ? (String(key.dropFirst("model.".count)), value) : nil
        })
        try model.loadStateDict(weights, source: name)

        // Our state dict is theirs, key for key and byte for byte (so it loads back into PyTorch).
        let ours = try model.stateDict()
        XCTAssertEqual(Set(ours.map(\.0)), Set(weights.keys))
        for (key, entry) in ours { XCTAssertEqual(entry, weights[key], "state dict entry \(key)") }

        let input = try Tensor(shape: entries["input"]!.shape, scalars: entries["input"]!.floats())
        let labels = try entries["labels"]!.floats().map { Int($0) }
        model.eval()
        try assertClose(GradMode.withoutGradient { try model(input) }, entries["logits_eval"], "eval logits")

        model.train()
        let logits = try model(input)
        try assertClose(logits, entries["logits_train"], "train logits")
        let loss = try crossEntropy(logits, labels: labels)
        try assertClose(loss, entries["loss_train"], "loss")
        try loss.backward()
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters())
        for key in gradients {
            try assertClose(XCTUnwrap(parameters[key]?.grad, "no gradient for \(key)"), entries["grad." + key], "gradient of \(key)",
                            tolerance: gradientTolerance)
        }
        let bn = try XCTUnwrap(Dictionary(uniqueKeysWithValues: model.namedModules())[batchNorm] as? BatchNorm2d)
        try assertClose(bn.runningMean, entries["running_mean_after." + batchNorm], "running mean of \(batchNorm)")
        XCTAssertEqual(bn.numBatchesTracked, 1)
    }

    /// FCN (issue 13) against torchvision's FCN on a tiny timm ResNet with output_stride=8:
    /// the dilated layer3/layer4, the heads, the bilinear resize to a 28x36 input, and
    /// torchvision's training loss (per-pixel cross-entropy ignoring 255, plus 0.4 x the
    /// auxiliary head's), its gradients and a running mean.
    func testTinyFCN() throws {
        let config = ResNetConfig(block: .bottleneck, layers: [1, 1, 1, 1], widths: [4, 8, 16, 32], stem: .standard, stemWidth: 32,
                                  strideOn3x3: true)
        let model = try FCN(backbone: config, classes: 5, auxiliaryHead: true, dropout: 0)
        XCTAssertEqual(model.backbone.config.dilatedStages, 2, "output stride 8")
        let entries = try fixture("tiny_fcn")
        let weights = Dictionary(uniqueKeysWithValues: entries.compactMap { key, value in
            key.hasPrefix("model.") ? (String(key.dropFirst("model.".count)), value) : nil
        })
        try model.loadStateDict(weights, source: "tiny_fcn")
        let input = try Tensor(shape: entries["input"]!.shape, scalars: entries["input"]!.floats())
        let labels = try entries["labels"]!.floats().map { Int($0) }
        XCTAssertTrue(labels.contains(255))

        model.eval()
        try assertClose(GradMode.withoutGradient { try model(input) }, entries["logits_eval"], "eval scores")
        model.train()
        let (out, aux) = try model.forwardWithAuxiliary(input)
        try assertClose(out, entries["logits_train"], "train scores")
        let loss = try crossEntropy(out, labels: labels, ignoreIndex: 255)
            + crossEntropy(XCTUnwrap(aux), labels: labels, ignoreIndex: 255) * 0.4
        try assertClose(loss, entries["loss_train"], "loss")
        try loss.backward()
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters())
        for key in ["backbone.conv1.weight", "backbone.layer3.0.conv2.weight", "backbone.layer4.0.conv2.weight",
                    "backbone.layer4.0.downsample.0.weight", "classifier.0.weight", "classifier.4.bias", "aux_classifier.4.weight"] {
            try assertClose(XCTUnwrap(parameters[key]?.grad, "no gradient for \(key)"), entries["grad." + key], "gradient of \(key)")
        }
        let bn = try XCTUnwrap(Dictionary(uniqueKeysWithValues: model.namedModules())["backbone.layer4.0.bn2"] as? BatchNorm2d)
        try assertClose(bn.runningMean, entries["running_mean_after.backbone.layer4.0.bn2"], "running mean")
    }

    /// timm's ResNet-D code path: deep stem, stride on the 3x3 conv, average-pool shortcut.
    func testTinyResNetD() throws {
        let config = ResNetConfig(block: .bottleneck, layers: [1, 1, 1, 1], widths: [8, 16, 32, 64], stem: .deep, stemWidth: 4,
                                  strideOn3x3: true, averagePoolShortcut: true, classes: 10)
        try check("tiny_resnet_d", config: config,
                  gradients: ["conv1.0.weight", "layer2.0.conv2.weight", "layer2.0.downsample.1.weight", "layer4.0.bn3.weight", "fc.weight", "fc.bias"],
                  batchNorm: "layer3.0.bn2")
    }

    /// torchvision's code path: 7x7 stem, max pool, basic blocks, 1x1 projection shortcuts.
    func testTinyResNet() throws {
        let config = ResNetConfig(block: .basic, layers: [1, 1, 1, 1], widths: [8, 16, 32, 64], stem: .standard, stemWidth: 32, classes: 10)
        try check("tiny_resnet", config: config,
                  gradients: ["conv1.weight", "layer1.0.downsample.0.weight", "layer3.0.conv1.weight", "layer4.0.bn2.bias", "fc.weight"],
                  batchNorm: "layer2.0.bn1")
    }

    /// timm's MobileNet v1 (`mobilenetv1_100`'s code at width 0.25): its keys, ReLU6, depthwise
    /// convs. Gradients within 3e-4 (measured 1.3e-4): the last stages' training-mode BatchNorm
    /// sees 8 values per channel (2x2 at batch 2), which magnifies summation-order differences.
    func testTinyMobileNetV1() throws {
        try check("tiny_mobilenetv1", model: MobileNetV1(widthMultiplier: 0.25, classes: 10, activation: .relu6),
                  gradients: ["conv_stem.weight", "blocks.0.0.conv_dw.weight", "blocks.3.2.conv_pw.weight", "bn1.bias", "classifier.weight"],
                  batchNorm: "blocks.2.1.bn1", gradientTolerance: 3e-4)
    }

    func testLoadingIntoTheWrongModelNamesTheKeys() throws {
        let entries = try fixture("tiny_resnet")
        let weights = Dictionary(uniqueKeysWithValues: entries.compactMap { k, v in k.hasPrefix("model.") ? (String(k.dropFirst(6)), v) : nil })
        let other = try ResNet(ResNetConfig(block: .basic, layers: [1, 1, 1, 1], widths: [8, 16, 32, 64], stem: .deep, stemWidth: 32, classes: 10))
        XCTAssertThrowsError(try other.loadStateDict(weights, source: "tiny_resnet")) { error in
            XCTAssertTrue("\(error)".contains("missing keys: conv1.0.weight"), "\(error)")
            XCTAssertTrue("\(error)".contains("unexpected keys: conv1.weight"), "\(error)")
        }
        let wrongClasses = try ResNet(ResNetConfig(block: .basic, layers: [1, 1, 1, 1], widths: [8, 16, 32, 64], stemWidth: 32, classes: 5))
        XCTAssertThrowsError(try wrongClasses.loadStateDict(weights, source: "tiny_resnet")) { error in
            XCTAssertTrue("\(error)".contains("fc.weight has shape [10, 64] in the file but [5, 64] in the model"), "\(error)")
        }
    }
}
