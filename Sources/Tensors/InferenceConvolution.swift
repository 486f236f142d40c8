/// The activation an inference convolution applies to its result (after the residual add).
public enum FusedActivation: Sendable, Equatable {
    case none, relu, relu6
}

/// A convolution's weights prepared once for inference: the kernel's own layout (and type) of
/// them, kept per layout a kernel asked for. Values, once made: new weights are a new object.
///
/// A training-shaped forward pass reorders every weight into the kernel's layout on each call:
/// at batch 1 that costs as much as the convolution (ResNet-50: 100 MB a pass). Inference
/// keeps the reordered copy while the weights stay as they are.
public final class KernelWeights: @unchecked Sendable {
    /// The plain [O, C/g, kh, kw] weights it was made from, and their bias.
    public let weight: Tensor
    public let bias: Tensor
    package var prepared: [(layout: AnyHashable, tensor: Tensor)] = []

    public init(weight: Tensor, bias: Tensor) {
        (self.weight, self.bias) = (weight, bias)
    }

    /// The copy made for `layout` by `make`, made at the first call.
    package func prepared(for layout: AnyHashable, _ make: () throws -> Tensor) rethrows -> Tensor {
        if let found = prepared.first(where: { $0.layout == layout }) { return found.tensor }
        let made = try make()
        prepared.append((layout, made))
        return made
    }
}

/// `activation(conv2d(input, weights) + bias + residual)` in one kernel where the backend can
/// (oneDNN: the add and the activation as post-ops of the convolution), for evaluation only:
/// nothing is recorded for backward. `residual` has the output's shape.
///
/// The result equals the composition of `conv2d`, `add` and `relu`/`relu6` up to the order
/// of the Float32 additions.
public func inferenceConv2d(_ input: Tensor, weights: KernelWeights, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                            dilation: (Int, Int) = (1, 1), groups: Int = 1, residual: Tensor? = nil,
                            activation: FusedActivation = .none) throws -> Tensor {
    let backend = try commonDevice("conv2d", [input, weights.weight, weights.bias, residual]).backend
    let geometry = try ConvGeometry(input: input.shape, weight: weights.weight.shape, bias: weights.bias.shape,
                                    stride: stride, padding: padding, dilation: dilation, groups: groups,
                                    dataType: Autocast.computeType(on: backend))
    if let residual, residual.shape != geometry.output {
        throw OpError(op: "conv2d", "residual \(residual.shape) differs from the output \(geometry.output) (\(geometry.shapes))")
    }
    return try backend.inferenceConv2d(input.cast(to: geometry.dataType), weights: weights, geometry: geometry,
                                       residual: residual, activation: activation)
}

extension Backend {
    /// The composition, for backends without a fused kernel (the reference backend, CUDA).
    package func inferenceConv2d(_ input: Tensor, weights: KernelWeights, geometry: ConvGeometry, residual: Tensor?,
                                 activation: FusedActivation) throws -> Tensor {
        var y = try conv2d(input, weight: weights.weight, bias: weights.bias, geometry: geometry, recording: false).0
        if let residual { y = try add(y, residual.cast(to: y.dataType)) }
        switch activation {
        case .none: return y
        case .relu: return try relu(y, recording: false).0
        case .relu6: return try relu6(y, recording: false).0
        }
    }
}
