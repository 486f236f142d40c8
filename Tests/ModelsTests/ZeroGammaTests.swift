import Models
import NN
import Tensors
import XCTest

/// Zero-gamma reaches every residual block of every zoo model: in a recorded forward pass,
/// every residual sum (`add`, `add_relu`) has a branch that ends in a BatchNorm whose gamma
/// zero-gamma set to 0. A new block that sums a branch without joining `ResidualBlock` (and
/// so escapes the trick) fails here, named by model and count.
final class ZeroGammaTests: XCTestCase {
    func testEveryResidualSumHasAZeroGammaBranch() throws {
        var checkedSums = 0
        for name in ModelZoo.names {
            let channels = name.hasPrefix("cifar_") || name == "lenet5" ? 1 : 3
            let size = name == "lenet5" ? 28 : name == "inception_v3" ? 75 : name.hasPrefix("cifar_") ? 8 : 32
            let model = try ModelZoo.make(name, classes: 5, inputChannels: channels)
            try model.initialize(.xavierUniform, seed: 1, zeroGamma: true)
            var generator = SeededGenerator(seed: 2)
            let output = try model(Tensor.randn([2, channels, size, size], using: &generator))
            var (sums, missed) = (0, 0)
            var stack = [output], seen = Set<ObjectIdentifier>()
            while let t = stack.popLast() {
                guard seen.insert(ObjectIdentifier(t)).inserted, let (op, inputs) = t.producer else { continue }
                stack += inputs
                guard op == "add" || op == "add_relu" else { continue }
                sums += 1
                let zeroedBranch = try inputs.contains { input in
                    guard let (inputOp, bnInputs) = input.producer, inputOp == "batch_norm" else { return false }
                    return try bnInputs[1].scalars.allSatisfy { $0 == 0 }
                }
                if !zeroedBranch { missed += 1 }
            }
            XCTAssertEqual(missed, 0, "\(name): \(missed) of \(sums) residual sums have no branch with zero gamma")
            if name.contains("resnet") { XCTAssertGreaterThan(sums, 0, "\(name): no residual sum found") }
            checkedSums += sums
        }
        XCTAssertGreaterThan(checkedSums, 1000)
    }
}
