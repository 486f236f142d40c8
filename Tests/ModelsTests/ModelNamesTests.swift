import Foundation
import Models
import NN
import Tensors
import XCTest

/// Names mean what they mean in torchvision and timm (issue 27, item 1): `resnet50` is their
/// ResNet-B, `resnet50a` the paper's original; GluonCV's `_v1`/`_v1b` names are aliases.
final class ModelNamesTests: XCTestCase {
    func config(_ name: String) throws -> ResNetConfig { try XCTUnwrap((try ModelZoo.make(name, classes: 10) as? ResNet)?.config, name) }

    func testPlainResNetNamesAreTorchvisions() throws {
        for depth in [50, 101, 152] {
            XCTAssertTrue(try config("resnet\(depth)").strideOn3x3, "resnet\(depth) has the stride on the 3x3 conv, as torchvision's")
            XCTAssertFalse(try config("resnet\(depth)a").strideOn3x3, "resnet\(depth)a is the original ResNet")
            XCTAssertEqual(try config("resnet\(depth)"), try config("resnet\(depth)b"))
            XCTAssertEqual(try config("resnet\(depth)"), try config("resnet\(depth)_v1b"))
            XCTAssertEqual(try config("resnet\(depth)a"), try config("resnet\(depth)_v1"))
            XCTAssertEqual(try config("resnet\(depth)d"), try config("resnet\(depth)_v1d"))
        }
        XCTAssertEqual(try config("cifar_resnet20_v1"), try config("cifar_resnet20"), "GluonCV's CIFAR name")
        XCTAssertEqual(ModelZoo.variant("resnet50"), "ResNet-B, torchvision's and timm's")
        XCTAssertEqual(ModelZoo.variant("resnet50a"), "the paper's original ResNet")
        XCTAssertEqual(ModelZoo.variant("fcn_resnet50d"), "ResNet-D")
        XCTAssertEqual(ModelZoo.variant("resnet18"), "torchvision's")
        XCTAssertNil(ModelZoo.variant("mobilenet_v1"))
        XCTAssertThrowsError(try ModelZoo.make("resnet50_v2"))
    }

    /// Each listed name is one network: no two listed names build the same one.
    func testListedNamesAreDistinctNetworks() throws {
        let names = ModelZoo.names.filter { $0.contains("resnet") }
        XCTAssertFalse(names.isEmpty)
        XCTAssertEqual(Set(names).count, names.count)
        let configs = try names.map { try config($0) }
        for (i, a) in configs.enumerated() {
            for (j, b) in configs.enumerated() where j > i { XCTAssertNotEqual(a, b, "\(names[i]) and \(names[j]) are the same network") }
        }
        XCTAssertTrue(names.contains("resnet50a") && !names.contains("resnet18a"), "the a name where it differs from the plain one")
    }

    /// Files written when `resnet50` was the original ResNet still load as that network.
    func testFilesFromBeforeTheRenameKeepTheirNetwork() throws {
        XCTAssertEqual(ModelZoo.nameBeforeTorchvisionNaming("resnet50"), "resnet50a")
        XCTAssertEqual(ModelZoo.nameBeforeTorchvisionNaming("fcn_resnet101"), "fcn_resnet101a")
        XCTAssertEqual(ModelZoo.nameBeforeTorchvisionNaming("cifar_resnet152"), "cifar_resnet152a")
        for unchanged in ["resnet50b", "resnet50d", "resnet18", "cifar_resnet20", "mobilenet_v1", "lenet5"] {
            XCTAssertEqual(ModelZoo.nameBeforeTorchvisionNaming(unchanged), unchanged)
        }
    }
}
