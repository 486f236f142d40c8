import DNNL
import Tensors

/// Tensors that share optimiser settings: the paper's no-bias-decay trick puts conv and FC
/// weights in one group (decayed) and biases and BatchNorm gamma/beta in another (not decayed).
public struct ParameterGroup {
    public var name: String
    public var parameters: [(String, Tensor)]
    public var weightDecay: Double

    public init(name: String, parameters: [(String, Tensor)], weightDecay: Double) {
        (self.name, self.parameters, self.weightDecay) = (name, parameters, weightDecay)
    }
}

/// Stochastic gradient descent with momentum, as PyTorch's `torch.optim.SGD`:
///   g = grad + weight_decay * w
///   buf = g on the first step, else momentum * buf + g
///   g = g + momentum * buf   (Nesterov, the paper's NAG)   or   g = buf
///   w = w - lr * g
/// Momentum buffers are kept per parameter name, for checkpoints.
public final class SGD {
    public var groups: [ParameterGroup]
    public var momentum: Double
    public var nesterov: Bool
    /// Momentum buffers by parameter name, plain Float32 of the parameter's shape.
    public private(set) var buffers: [String: [Float]] = [:]

    public init(groups: [ParameterGroup], momentum: Double = 0.9, nesterov: Bool = true) {
        (self.groups, self.momentum, self.nesterov) = (groups, momentum, nesterov)
    }

    /// One update with learning rate `lr`; parameters without a gradient are left alone.
    public func step(lr: Double) throws {
        let (m, lr) = (Float(momentum), Float(lr))
        for group in groups {
            let wd = Float(group.weightDecay)
            for (name, parameter) in group.parameters {
                guard let grad = parameter.grad else { continue }
                let g = try grad.contiguous().scalars
                var buffer = buffers[name] ?? []
                let first = buffer.isEmpty
                if first { buffer = [Float](repeating: 0, count: g.count) }
                try parameter.withUnsafeMutableFloats { w in
                    for i in 0..<w.count {
                        let d = g[i] + wd * w[i]
                        let b = first ? d : m * buffer[i] + d
                        buffer[i] = b
                        w[i] -= lr * (nesterov ? d + m * b : b)
                    }
                }
                buffers[name] = buffer
            }
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for group in groups { for (_, p) in group.parameters { p.grad = nil } }
    }

    /// Restores momentum buffers (from a checkpoint), checking names and sizes.
    public func loadBuffers(_ saved: [String: [Float]]) throws {
        let known = Dictionary(uniqueKeysWithValues: groups.flatMap(\.parameters).map { ($0.0, $0.1.count) })
        for (name, values) in saved {
            guard let count = known[name] else { throw OpError(op: "sgd", "momentum buffer for unknown parameter \(name)") }
            guard values.count == count else { throw OpError(op: "sgd", "momentum buffer for \(name) has \(values.count) values, parameter has \(count)") }
        }
        buffers = saved
    }
}
