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
///   g = grad * gradient_scale + weight_decay * w
///   buf = g on the first step, else momentum * buf + g
///   g = g + momentum * buf   (Nesterov, the paper's NAG)   or   g = buf
///   w = w - lr * g
/// Momentum buffers are kept per parameter name, for checkpoints. With `masterPrecision` set
/// (low-precision training), the update goes to a Float32 master copy of each parameter and the
/// parameter the model computes with is that copy rounded to the 16-bit type.
public final class SGD {
    public var groups: [ParameterGroup]
    public var momentum: Double
    public var nesterov: Bool
    public let masterPrecision: DataType?
    /// Momentum buffers by parameter name, plain Float32 of the parameter's shape.
    public private(set) var buffers: [String: [Float]] = [:]
    /// Float32 master weights by name (low precision only).
    public private(set) var masters: [String: [Float]] = [:]

    public init(groups: [ParameterGroup], momentum: Double = 0.9, nesterov: Bool = true, masterPrecision: DataType? = nil) throws {
        (self.groups, self.momentum, self.nesterov) = (groups, momentum, nesterov)
        self.masterPrecision = masterPrecision == .float32 ? nil : masterPrecision
        if let type = self.masterPrecision {
            for (name, p) in groups.flatMap(\.parameters) {
                masters[name] = try p.scalars
                try p.withUnsafeMutableFloats { w in for i in 0..<w.count { w[i] = rounded(w[i], to: type) } }
            }
        }
    }

    /// Whether every gradient is finite (the loss scaler's test).
    public func gradientsAreFinite() throws -> Bool {
        for group in groups { for (_, p) in group.parameters {
            if let g = p.grad, try !g.scalars.allSatisfy(\.isFinite) { return false }
        } }
        return true
    }

    /// One update with learning rate `lr`; parameters without a gradient are left alone.
    /// `gradientScale` multiplies every gradient first (1 / loss scale).
    public func step(lr: Double, gradientScale: Double = 1) throws {
        let (m, lr, scale) = (Float(momentum), Float(lr), Float(gradientScale))
        for group in groups {
            let wd = Float(group.weightDecay)
            for (name, parameter) in group.parameters {
                guard let grad = parameter.grad else { continue }
                let g = try grad.contiguous().scalars
                var buffer = buffers[name] ?? []
                let first = buffer.isEmpty
                if first { buffer = [Float](repeating: 0, count: g.count) }
                var master = masters[name]
                try parameter.withUnsafeMutableFloats { w in
                    for i in 0..<w.count {
                        let value = master?[i] ?? w[i]
                        let d = g[i] * scale + wd * value
                        let b = first ? d : m * buffer[i] + d
                        buffer[i] = b
                        let updated = value - lr * (nesterov ? d + m * b : b)
                        if let type = masterPrecision {
                            master![i] = updated
                            w[i] = rounded(updated, to: type)
                        } else {
                            w[i] = updated
                        }
                    }
                }
                buffers[name] = buffer
                if master != nil { masters[name] = master }
            }
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for group in groups { for (_, p) in group.parameters { p.grad = nil } }
    }

    /// Restores momentum buffers and master weights (from a checkpoint), checking names and sizes.
    public func loadBuffers(_ saved: [String: [Float]], masters savedMasters: [String: [Float]] = [:]) throws {
        let known = Dictionary(uniqueKeysWithValues: groups.flatMap(\.parameters).map { ($0.0, $0.1.count) })
        for (name, values) in saved.merging(savedMasters, uniquingKeysWith: { a, _ in a }) {
            guard let count = known[name] else { throw OpError(op: "sgd", "optimiser state for unknown parameter \(name)") }
            guard values.count == count else { throw OpError(op: "sgd", "optimiser state for \(name) has \(values.count) values, parameter has \(count)") }
        }
        buffers = saved
        let parameters = groups.flatMap(\.parameters)
        if let type = masterPrecision {
            if savedMasters.isEmpty {
                // State from a run without emulated 16-bit parameters: its parameters (loaded
                // by now) are the masters.
                for (name, p) in parameters {
                    masters[name] = try p.scalars
                    try p.withUnsafeMutableFloats { w in for i in 0..<w.count { w[i] = rounded(w[i], to: type) } }
                }
            } else {
                masters = savedMasters
            }
        } else {
            // State from an emulated 16-bit run, continued in Float32 or natively: go on from
            // its Float32 masters rather than from their rounded copies.
            for (name, p) in parameters { if let master = savedMasters[name] { try p.assign(master) } }
        }
    }
}

/// The paper's "no bias decay" (section 3.1) as parameter groups: weight decay for conv and
/// fully connected weights (rank > 1), none for biases and BatchNorm gamma and beta (rank 1),
/// the rule timm applies. Without it, one group decays everything.
public func parameterGroups(_ parameters: [(String, Tensor)], weightDecay: Double, noBiasDecay: Bool) -> [ParameterGroup] {
    guard noBiasDecay else { return [ParameterGroup(name: "all", parameters: parameters, weightDecay: weightDecay)] }
    return [ParameterGroup(name: "decay", parameters: parameters.filter { $0.1.rank > 1 }, weightDecay: weightDecay),
            ParameterGroup(name: "no_decay", parameters: parameters.filter { $0.1.rank <= 1 }, weightDecay: 0)]
}
