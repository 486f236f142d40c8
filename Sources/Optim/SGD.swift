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
    /// Momentum buffers of parameters in host memory by name, plain Float32 of the parameter's shape.
    private var hostBuffers: [String: [Float]] = [:]
    /// Float32 master weights by name (low precision only).
    private var hostMasters: [String: [Float]] = [:]
    /// The same for parameters in device memory (a GPU), kept there and updated by its kernels.
    private var deviceBuffers: [String: Tensor] = [:], deviceMasters: [String: Tensor] = [:]

    /// Momentum buffers by parameter name (copied from the device where they live there).
    public var buffers: [String: [Float]] {
        get throws { try hostBuffers.merging(deviceBuffers.mapValues { try $0.scalars }) { a, _ in a } }
    }
    /// Float32 master weights by name (low precision only).
    public var masters: [String: [Float]] {
        get throws { try hostMasters.merging(deviceMasters.mapValues { try $0.scalars }) { a, _ in a } }
    }

    public init(groups: [ParameterGroup], momentum: Double = 0.9, nesterov: Bool = true, masterPrecision: DataType? = nil) throws {
        (self.groups, self.momentum, self.nesterov) = (groups, momentum, nesterov)
        self.masterPrecision = masterPrecision == .float32 ? nil : masterPrecision
        if let type = self.masterPrecision {
            for (name, p) in groups.flatMap(\.parameters) { try makeMaster(name, p, type) }
        }
    }

    /// Whether `p` lives in host memory (the CPU backends), where `step` updates it by Swift loops.
    private static func isHost(_ p: Tensor) -> Bool { p.isInHostMemory }

    /// A Float32 master from `p`, and `p` rounded to `type`.
    private func makeMaster(_ name: String, _ p: Tensor, _ type: DataType) throws {
        if Self.isHost(p) {
            hostMasters[name] = try p.scalars
            try p.withUnsafeMutableFloats { w in for i in 0..<w.count { w[i] = rounded(w[i], to: type) } }
        } else {
            deviceMasters[name] = try Tensor(shape: p.shape, scalars: p.scalars, device: p.device)
            try p.device.backend.roundInPlace(p, to: type)
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
                guard Self.isHost(parameter) else {
                    try deviceStep(name, parameter, grad, lr: lr, momentum: m, weightDecay: wd, gradientScale: scale)
                    continue
                }
                let g = try grad.converted(to: .float32).contiguous()
                // Taken out of the dictionaries while updated: a second reference would make
                // the first write copy the whole buffer (copy-on-write) on every step.
                var buffer = hostBuffers.removeValue(forKey: name) ?? []
                let first = buffer.isEmpty
                if first { buffer = [Float](repeating: 0, count: parameter.count) }
                var master = hostMasters.removeValue(forKey: name)
                // Low precision keeps a Float32 master of every parameter; one missing (state
                // saved without it) starts from the parameter itself.
                if masterPrecision != nil, master == nil { master = try parameter.scalars }
                defer {
                    hostBuffers[name] = buffer
                    if master != nil { hostMasters[name] = master }
                }
                try g.withUnsafeMutableFloats { gs in
                    try parameter.withUnsafeMutableFloats { ws in
                        buffer.withUnsafeMutableBufferPointer { bs in
                            precondition(gs.count == ws.count && bs.count == ws.count)
                            let (gp, wp, bp) = (SendablePointer(gs.baseAddress!), SendablePointer(ws.baseAddress!), SendablePointer(bs.baseAddress!))
                            let update = Update(lr: lr, momentum: m, weightDecay: wd, gradientScale: scale, nesterov: nesterov, first: first)
                            if let type = masterPrecision {
                                // Through `master!` in place: a copy in a local would be copied on write.
                                master!.withUnsafeMutableBufferPointer { ms in
                                    let mp = SendablePointer(ms.baseAddress!)
                                    forEachChunk(ws.count) { range in
                                        update.apply(range, grad: gp.p, weights: mp.p, buffer: bp.p)
                                        for i in range { wp.p[i] = rounded(mp.p[i], to: type) }
                                    }
                                }
                            } else {
                                forEachChunk(ws.count) { range in update.apply(range, grad: gp.p, weights: wp.p, buffer: bp.p) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The same update by the device's own kernel, on buffers kept on the device.
    private func deviceStep(_ name: String, _ parameter: Tensor, _ grad: Tensor, lr: Float, momentum: Float,
                            weightDecay: Float, gradientScale: Float) throws {
        guard let device = parameter.device.backend as? any DeviceSGD else {
            throw OpError(op: "sgd", "\(name) is on \(parameter.device), which has no optimiser kernel")
        }
        let first = deviceBuffers[name] == nil
        let buffer = try deviceBuffers[name] ?? Tensor.zeros(parameter.shape, device: parameter.device)
        deviceBuffers[name] = buffer
        if masterPrecision != nil, deviceMasters[name] == nil {
            deviceMasters[name] = try Tensor(shape: parameter.shape, scalars: parameter.scalars, device: parameter.device)
        }
        try device.sgdStep(weights: parameter, master: deviceMasters[name], buffer: buffer, gradient: grad, lr: lr, momentum: momentum,
                           weightDecay: weightDecay, gradientScale: gradientScale, first: first, nesterov: nesterov, roundTo: masterPrecision)
    }

    /// The update rule of one step for one parameter group, applied to a range of elements:
    /// its branches are decided once per tensor, not per element, so the loop vectorises.
    private struct Update: Sendable {
        let lr, momentum, weightDecay, gradientScale: Float
        let nesterov, first: Bool

        func apply(_ range: Range<Int>, grad: UnsafeMutablePointer<Float>, weights w: UnsafeMutablePointer<Float>, buffer b: UnsafeMutablePointer<Float>) {
            let (lr, m, wd, scale) = (lr, momentum, weightDecay, gradientScale)
            switch (first, nesterov) {
            case (true, true):
                for i in range { let d = grad[i] * scale + wd * w[i]; b[i] = d; w[i] -= lr * (d + m * d) }
            case (true, false):
                for i in range { let d = grad[i] * scale + wd * w[i]; b[i] = d; w[i] -= lr * d }
            case (false, true):
                for i in range { let d = grad[i] * scale + wd * w[i]; let v = m * b[i] + d; b[i] = v; w[i] -= lr * (d + m * v) }
            case (false, false):
                for i in range { let d = grad[i] * scale + wd * w[i]; let v = m * b[i] + d; b[i] = v; w[i] -= lr * v }
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
        let parameters = groups.flatMap(\.parameters)
        let byName = Dictionary(uniqueKeysWithValues: parameters)
        // Each into host memory or onto the parameter's device, as the parameter lives.
        func place(_ values: [String: [Float]], host: inout [String: [Float]], device: inout [String: Tensor]) throws {
            (host, device) = ([:], [:])
            for (name, v) in values {
                let p = byName[name]!
                if Self.isHost(p) { host[name] = v } else { device[name] = try Tensor(shape: p.shape, scalars: v, device: p.device) }
            }
        }
        try place(saved, host: &hostBuffers, device: &deviceBuffers)
        if let type = masterPrecision {
            if savedMasters.isEmpty {
                // State from a run without emulated 16-bit parameters: its parameters (loaded
                // by now) are the masters.
                (hostMasters, deviceMasters) = ([:], [:])
                for (name, p) in parameters { try makeMaster(name, p, type) }
            } else {
                try place(savedMasters, host: &hostMasters, device: &deviceMasters)
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
