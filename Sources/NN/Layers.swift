import Tensors

/// `nn.Conv2d`. Weights start at zero; a model's `initialize` fills them (Xavier or Kaiming).
/// Layers are made on `Device.current`, so making one throws where that device cannot hold
/// tensors (cuda without a GPU).
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    /// Evaluation's BatchNorm-folded weights (`InferenceFusion.swift`).
    let folded = FoldedConvolution()

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = false) throws {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels \(inChannels)->\(outChannels) not divisible by groups \(groups)")
        weight = try Tensor.zeros([outChannels, inChannels / groups, kernel.0, kernel.1], requiresGrad: true)
        self.bias = bias ? try Tensor.zeros([outChannels], requiresGrad: true) : nil
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
    }

    /// Square kernel, stride, padding and dilation.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = false) throws {
        try self.init(inChannels, outChannels, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding),
                  dilation: (dilation, dilation), groups: groups, bias: bias)
    }

    override public var parameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    override public func forward(_ x: Tensor) throws -> Tensor {
        let y = try conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        // Each of the N x H' x W' output positions costs O x C/g x kh x kw multiply-adds.
        MACCounter.add(y.count / y.shape[1] * weight.count)
        return y
    }
}

/// `nn.BatchNorm2d` (also accepts [N, C] input): gamma `weight`, beta `bias`, and the running
/// statistics as buffers.
public final class BatchNorm2d: Module {
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVar: Tensor
    public var numBatchesTracked = 0
    public let eps: Float, momentum: Float
    /// torchvision's `FrozenBatchNorm2d` (detection backbones): the running statistics, gamma and
    /// beta are fixed buffers, never updated or trained, in training mode too.
    public private(set) var isFrozen = false

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) throws {
        weight = try Tensor.full([channels], 1, requiresGrad: true)
        bias = try Tensor.zeros([channels], requiresGrad: true)
        runningMean = try Tensor.zeros([channels])
        runningVar = try Tensor.full([channels], 1)
        (self.eps, self.momentum) = (eps, momentum)
    }

    /// Freezes this BatchNorm (see `isFrozen`): gamma and beta become buffers, as torchvision's
    /// `FrozenBatchNorm2d` holds them, so they leave the parameters (and their count).
    public func freeze() {
        isFrozen = true
        weight.requiresGrad = false
        bias.requiresGrad = false
    }

    override public var parameters: [(String, Tensor)] { isFrozen ? [] : [("weight", weight), ("bias", bias)] }
    override public var buffers: [(String, Tensor)] {
        (isFrozen ? [("weight", weight), ("bias", bias)] : []) + [("running_mean", runningMean), ("running_var", runningVar)]
    }
    override public var counters: [(String, Int)] { [("num_batches_tracked", numBatchesTracked)] }
    override public func setCounter(_ name: String, to value: Int) { if name == "num_batches_tracked" { numBatchesTracked = value } }

    override public func forward(_ x: Tensor) throws -> Tensor { try callAsFunction(x, relu: false) }

    /// With `relu: true`, BatchNorm and the ReLU after it run as one kernel.
    public func callAsFunction(_ x: Tensor, relu: Bool) throws -> Tensor {
        if isFrozen {
            return try batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                 training: false, momentum: momentum, eps: eps, fusedReLU: relu)
        }
        if isTraining {
            numBatchesTracked += 1
            // The kernels update the running statistics in place.
            runningMean.markChanged()
            runningVar.markChanged()
        }
        if isTraining, let collective = BatchNormSync.collective {
            return try syncBatchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                     collective: collective, momentum: momentum, eps: eps, fusedReLU: relu)
        }
        return try batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                             training: isTraining, momentum: momentum, eps: eps, fusedReLU: relu)
    }
}

/// `nn.Linear`: weight [out, in], bias [out].
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) throws {
        weight = try Tensor.zeros([outFeatures, inFeatures], requiresGrad: true)
        self.bias = bias ? try Tensor.zeros([outFeatures], requiresGrad: true) : nil
    }

    override public var parameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    override public func forward(_ x: Tensor) throws -> Tensor {
        MACCounter.add(x.shape[0] * weight.count)
        return try linear(x, weight: weight, bias: bias)
    }
}

public final class ReLU: Module {
    override public func forward(_ x: Tensor) throws -> Tensor { try relu(x) }
}

public final class MaxPool2d: Module {
    let kernel: Int, stride: Int, padding: Int, ceilMode: Bool
    public init(kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false) {
        (self.kernel, self.stride, self.padding, self.ceilMode) = (kernel, stride, padding, ceilMode)
    }
    override public func forward(_ x: Tensor) throws -> Tensor {
        try maxPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding), ceilMode: ceilMode)
    }
}

public final class AvgPool2d: Module {
    let kernel: Int, stride: Int, padding: Int, ceilMode: Bool, countIncludePad: Bool
    public init(kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        (self.kernel, self.stride, self.padding, self.ceilMode, self.countIncludePad) = (kernel, stride, padding, ceilMode, countIncludePad)
    }
    override public func forward(_ x: Tensor) throws -> Tensor {
        let y = try avgPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding),
                              ceilMode: ceilMode, countIncludePad: countIncludePad)
        MACCounter.add(y.count * kernel * kernel)
        return y
    }
}

/// `nn.Dropout`: zeroes each element with probability `p` in training (scaling the rest by
/// 1 / (1 - p)); the identity in evaluation. Its masks come from its own seeded generator.
public final class Dropout: Module {
    public var p: Float
    var generator: SeededGenerator

    public init(p: Float, seed: UInt64 = 0) {
        self.p = p
        generator = SeededGenerator(seed: seed)
    }

    override public func forward(_ x: Tensor) throws -> Tensor { try dropout(x, p: p, training: isTraining, using: &generator) }
}

/// `nn.Identity`: kept where PyTorch models keep one, so that the modules after it carry the
/// same index in their state-dict keys (timm's ResNet-D shortcut at stride 1).
public final class Identity: Module {
    override public func forward(_ x: Tensor) throws -> Tensor { x }
}
