import Glibc
import Tensors

/// How conv and fully connected weights start. Biases start at 0, BatchNorm gamma at 1 and
/// beta at 0 either way.
public enum Initializer: String, Sendable, CaseIterable {
    /// The paper's choice: uniform in [-a, a], a = sqrt(6 / (fan_in + fan_out)), with fans
    /// counting channels times kernel area, as MXNet's and PyTorch's Xavier do.
    case xavierUniform = "xavier"
    /// He et al. 2015, normal with std sqrt(2 / fan_out), as torchvision's ResNet (GluonCV's
    /// ImageNet script uses MSRA init too).
    case kaimingNormal = "kaiming"
}

extension Module {
    /// Sets every parameter from `initializer` and `seed`, walking modules in order so that the
    /// same seed gives the same weights. With `zeroGamma`, each residual block then zeroes the
    /// gamma of its last BatchNorm (the paper's zero-gamma trick).
    public func initialize(_ initializer: Initializer = .xavierUniform, seed: UInt64 = 0, zeroGamma: Bool = false) throws {
        var generator = SeededGenerator(seed: seed)
        for (_, module) in namedModules() {
            switch module {
            case let conv as Conv2d:
                let receptive = conv.weight.shape[2] * conv.weight.shape[3]
                try fill(conv.weight, fanIn: conv.weight.shape[1] * receptive, fanOut: conv.weight.shape[0] * receptive,
                         initializer, &generator)
                if let bias = conv.bias { try bias.assign([Float](repeating: 0, count: bias.count)) }
            case let fc as Linear:
                try fill(fc.weight, fanIn: fc.weight.shape[1], fanOut: fc.weight.shape[0], initializer, &generator)
                if let bias = fc.bias { try bias.assign([Float](repeating: 0, count: bias.count)) }
            case let bn as BatchNorm2d:
                try bn.weight.assign([Float](repeating: 1, count: bn.weight.count))
                try bn.bias.assign([Float](repeating: 0, count: bn.bias.count))
            default:
                break
            }
        }
        if zeroGamma {
            for case let (_, block as ResidualBlock) in namedModules() {
                try block.zeroInitLastBatchNorm()
            }
        }
    }
}

/// A block whose output is branch(x) + shortcut(x): it knows its last BatchNorm.
public protocol ResidualBlock: Module {
    var lastBatchNorm: BatchNorm2d { get }
}

extension ResidualBlock {
    /// gamma = 0 in the BatchNorm that ends the residual branch: the block starts as the identity.
    public func zeroInitLastBatchNorm() throws {
        try lastBatchNorm.weight.assign([Float](repeating: 0, count: lastBatchNorm.weight.count))
    }
}

private func fill(_ weight: Tensor, fanIn: Int, fanOut: Int, _ initializer: Initializer, _ generator: inout SeededGenerator) throws {
    let values: [Float]
    switch initializer {
    case .xavierUniform:
        let a = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
        values = (0..<weight.count).map { _ in Float.random(in: -a...a, using: &generator) }
    case .kaimingNormal:
        let std = (2.0 / Double(fanOut)).squareRoot()
        values = (0..<weight.count).map { _ in Float(std * generator.nextNormal()) }
    }
    try weight.assign(values)
}
