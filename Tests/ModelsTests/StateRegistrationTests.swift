import Models
import NN
import Tensors
import XCTest

/// A model cannot drop state silently: a block that holds a layer its `children` forget is
/// refused, naming the block, its path and the property.
final class StateRegistrationTests: XCTestCase {
    final class ForgetfulBlock: Module {
        let conv1: Conv2d, conv2: Conv2d
        init(channels: Int = 4) throws {
            (conv1, conv2) = (try Conv2d(channels, channels, kernel: 3, padding: 1), try Conv2d(channels, channels, kernel: 3, padding: 1))
        }
        override var children: [(String, Module)] { [("conv1", conv1)] }  // conv2 forgotten
    }

    final class HiddenTensor: Module {
        let scale: Tensor
        let extras: [Module] = [ReLU()]
        init(channels: Int = 4) throws { scale = try Tensor.full([channels], 1, requiresGrad: true) }
        override var children: [(String, Module)] { [("extras.0", extras[0])] }
    }

    func testAForgottenChildIsNamed() throws {
        let model = Sequential([ReLU(), try ForgetfulBlock()])
        XCTAssertThrowsError(try model.checkStateIsRegistered()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("ForgetfulBlock at '1' holds module Conv2d in 'conv2'"), text)
        }
    }

    func testAnUnlistedParameterIsNamed() throws {
        XCTAssertThrowsError(try HiddenTensor().checkStateIsRegistered()) { error in
            XCTAssertTrue("\(error)".contains("holds tensor of shape [4] in 'scale'"), "\(error)")
        }
    }

    func testEveryZooModelListsAllItsState() throws {
        for name in ModelZoo.names { XCTAssertNoThrow(try ModelZoo.make(name, classes: 10).checkStateIsRegistered(), name) }
        XCTAssertNoThrow(try ModelZoo.make("inception_v3", auxiliaryHead: true).checkStateIsRegistered())
    }
}
