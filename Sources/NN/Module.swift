import Tensors

/// A layer or a model: parameters, buffers and submodules, each named as PyTorch names them,
/// so that the dotted paths (`layer1.0.conv1.weight`) are the keys of a PyTorch state dict.
///
/// A subclass lists its own tensors in `parameters` and `buffers` and its submodules in
/// `children`; the recursive walks below find everything else. Training or evaluation mode is
/// a property of the model, set with `train()` or `eval()`, never global.
open class Module {
    public private(set) var isTraining = true

    public init() {}

    /// Direct submodules, in PyTorch's registration order.
    open var children: [(String, Module)] { [] }
    /// This module's own trainable tensors.
    open var parameters: [(String, Tensor)] { [] }
    /// This module's own non-trainable tensors (running statistics).
    open var buffers: [(String, Tensor)] { [] }
    /// Integer state PyTorch keeps as int64 scalars (BatchNorm's `num_batches_tracked`).
    open var counters: [(String, Int)] { [] }
    open func setCounter(_ name: String, to value: Int) {}

    open func forward(_ x: Tensor) throws -> Tensor {
        throw OpError(op: "\(type(of: self))", "this module has no forward pass of its own")
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }

    /// Every module below and including this one, with its dotted path ("" for self).
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        [(prefix, self)] + children.flatMap { name, child in child.namedModules(prefix: join(prefix, name)) }
    }

    public func namedParameters() -> [(String, Tensor)] {
        namedModules().flatMap { path, module in module.parameters.map { (join(path, $0.0), $0.1) } }
    }

    public func namedBuffers() -> [(String, Tensor)] {
        namedModules().flatMap { path, module in module.buffers.map { (join(path, $0.0), $0.1) } }
    }

    public func namedCounters() -> [(String, Int)] {
        namedModules().flatMap { path, module in module.counters.map { (join(path, $0.0), $0.1) } }
    }

    /// The device of the model's parameters (the current device for a model without any).
    public var device: Device { namedParameters().first?.1.device ?? Device.current }

    /// Number of trainable scalars.
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.1.count } }

    /// Training mode (batch statistics, dropout) for this module and all below it.
    public func train(_ on: Bool = true) {
        for (_, module) in namedModules() { module.isTraining = on }
    }

    /// Evaluation mode (running statistics, no dropout).
    public func eval() { train(false) }
}

private func join(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

/// `nn.ModuleList`: submodules named by their index, with no forward pass of its own.
public final class ModuleList: Module {
    public let modules: [Module]

    public init(_ modules: [Module]) { self.modules = modules }

    override public var children: [(String, Module)] { modules.enumerated().map { ("\($0.offset)", $0.element) } }
    public subscript(_ index: Int) -> Module { modules[index] }
    public var count: Int { modules.count }
}

/// Modules applied in order, named "0", "1", ... as in `nn.Sequential`. A BatchNorm directly
/// followed by a ReLU runs as one fused kernel.
public final class Sequential: Module {
    public let layers: [Module]

    public init(_ layers: [Module]) {
        self.layers = layers
    }

    override public var children: [(String, Module)] { layers.enumerated().map { ("\($0.offset)", $0.element) } }

    override public func forward(_ x: Tensor) throws -> Tensor {
        var x = x, i = 0
        while i < layers.count {
            // In evaluation: conv, BatchNorm and a ReLU after them as one fused kernel.
            if let conv = layers[i] as? Conv2d, i + 1 < layers.count, let bn = layers[i + 1] as? BatchNorm2d {
                let relu = i + 2 < layers.count && layers[i + 2] is ReLU
                if let y = try conv.inference(x, bn, activation: relu ? .relu : .none) {
                    x = y
                    i += relu ? 3 : 2
                    continue
                }
            }
            if let bn = layers[i] as? BatchNorm2d, i + 1 < layers.count, layers[i + 1] is ReLU {
                x = try bn(x, relu: true)
                i += 2
            } else {
                x = try layers[i](x)
                i += 1
            }
        }
        return x
    }
}
