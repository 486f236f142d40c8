import Models
import NN
import Tensors
import XCTest

/// Parameter counts at 1000 classes against the published ones (torchvision, timm, the
/// MobileNet paper), and multiply-accumulates against the paper's FLOPs.
final class ParameterCountTests: XCTestCase {
    func count(_ name: String, auxiliaryHead: Bool = false) throws -> Int {
        try ModelZoo.make(name, auxiliaryHead: auxiliaryHead).parameterCount
    }

    func testResNets() throws {
        XCTAssertEqual(try count("resnet18"), 11_689_512)
        XCTAssertEqual(try count("resnet34"), 21_797_672)
        XCTAssertEqual(try count("resnet50"), 25_557_032)
        XCTAssertEqual(try count("resnet101"), 44_549_160)
        XCTAssertEqual(try count("resnet152"), 60_192_808)
    }

    /// torchvision's published counts for `fcn_resnet50`/`fcn_resnet101` (21 classes; with and
    /// without the auxiliary head); the dilation that keeps layer3 and layer4 at 1/8 adds nothing.
    func testFCN() throws {
        func fcn(_ name: String, aux: Bool) throws -> Int { try ModelZoo.make(name, classes: 21, auxiliaryHead: aux).parameterCount }
        XCTAssertEqual(try fcn("fcn_resnet50b", aux: true), 35_322_218)
        XCTAssertEqual(try fcn("fcn_resnet50b", aux: false), 32_957_013)
        XCTAssertEqual(try fcn("fcn_resnet101b", aux: true), 54_314_346)
        XCTAssertEqual(try fcn("fcn_resnet101b", aux: false), 51_949_141)
    }

    func testTweakedResNets() throws {
        XCTAssertEqual(try count("resnet50b"), 25_557_032, "B moves a stride, adds nothing")
        XCTAssertEqual(try count("resnet50c"), 25_576_264)
        XCTAssertEqual(try count("resnet50d"), 25_576_264)
        XCTAssertEqual(try count("resnet18d"), 11_708_744)
    }

    func testMobileNetAndInception() throws {
        XCTAssertEqual(try count("mobilenet_v1"), 4_231_976)
        XCTAssertEqual(try count("mobilenetv1_100"), 4_231_976, "timm's mobilenetv1_100")
        XCTAssertEqual(try count("inception_v3"), 23_834_568)
        XCTAssertEqual(try count("inception_v3", auxiliaryHead: true), 27_161_264)
    }

    /// The CIFAR ResNet-20 of ANCHORS.md: 272,186 parameters with one input channel, 10 classes.
    func testCIFARResNet20() throws {
        XCTAssertEqual(try ModelZoo.make("cifar_resnet20", classes: 10, inputChannels: 1).parameterCount, 272_186)
    }

    /// LeNet-5 for 28x28 greyscale, 10 classes: the 61,706 of the PyTorch tutorials' version;
    /// another image size is an error that names it.
    func testLeNet5() throws {
        let model = try ModelZoo.make("lenet5", classes: 10, inputChannels: 1)
        XCTAssertEqual(model.parameterCount, 61_706)
        XCTAssertEqual(try GradMode.withoutGradient { try model(Tensor.zeros([2, 1, 28, 28])) }.shape, [2, 10])
        XCTAssertThrowsError(try model(Tensor.zeros([2, 1, 32, 32]))) { XCTAssertTrue("\($0)".contains("28x28"), "\($0)") }
    }

    /// The paper's Table 5: ResNet-50 3.8G FLOPs (multiply-adds), -B 4.1G, -C 4.3G, -D 4.3G;
    /// `resnet50` is torchvision's, ResNet-B.
    func testMultiplyAccumulatesFollowThePaper() throws {
        var macs: [String: Double] = [:]
        for name in ["resnet50a", "resnet50", "resnet50b", "resnet50c", "resnet50d"] {
            let model = try ModelZoo.make(name)
            model.eval()
            let x = try Tensor.zeros([1, 3, 224, 224])
            macs[name] = Double(try MACCounter.measure { _ = try GradMode.withoutGradient { try model(x) } }) / 1e9
        }
        XCTAssertEqual(macs["resnet50a"]!, 3.8, accuracy: 0.1)
        XCTAssertEqual(macs["resnet50b"]!, 4.1, accuracy: 0.1)
        XCTAssertEqual(macs["resnet50"]!, macs["resnet50b"]!)
        XCTAssertEqual(macs["resnet50c"]!, 4.3, accuracy: 0.1)
        XCTAssertEqual(macs["resnet50d"]!, 4.3, accuracy: 0.1)
        XCTAssertGreaterThan(macs["resnet50d"]!, macs["resnet50c"]!)
    }

    func testUnknownModelIsAnError() throws {
        XCTAssertThrowsError(try ModelZoo.make("resnet51")) { XCTAssertTrue("\($0)".contains("unknown model 'resnet51'"), "\($0)") }
        XCTAssertThrowsError(try ModelZoo.make("resnet18", classes: 0))
    }
}
