/// Which elements a detection loss counts, with what weight, and what the weighted sum is
/// divided by: Faster R-CNN's losses cover the sampled anchors or proposals only (weight 1,
/// the rest 0) and divide by the number sampled, as torchvision's `fastrcnn_loss` and
/// `RegionProposalNetwork.compute_loss` do.
public struct LossSelection: Sendable {
    /// One target per element of the input, in its logical row-major order.
    public var targets: [Float]
    /// One weight per element (0 leaves it out).
    public var weights: [Float]
    public var divisor: Float

    public init(targets: [Float], weights: [Float], divisor: Float) {
        (self.targets, self.weights, self.divisor) = (targets, weights, divisor)
    }
}

/// sum_i w_i BCE(sigmoid(x_i), t_i) / divisor, computed from the logits as PyTorch's
/// `binary_cross_entropy_with_logits` does (max(x, 0) - x t + log(1 + e^-|x|)): the RPN's
/// objectness loss. A [1] tensor; the gradient w_i (sigmoid(x_i) - t_i) / divisor flows to `x`.
public func binaryCrossEntropyWithLogits(_ x: Tensor, _ selection: LossSelection) throws -> Tensor {
    try detectionLoss("binary_cross_entropy_with_logits", x, selection) { backend, x, recording in
        try backend.binaryCrossEntropyWithLogits(x, selection: selection, recording: recording)
    }
}

/// sum_i w_i smoothL1(x_i - t_i) / divisor with PyTorch's `smooth_l1_loss`: 0.5 d^2 / beta where
/// |d| < beta, else |d| - 0.5 beta (torchvision's box losses use beta 1/9). A [1] tensor.
public func smoothL1Loss(_ x: Tensor, _ selection: LossSelection, beta: Float) throws -> Tensor {
    guard beta > 0 else { throw OpError(op: "smooth_l1_loss", "beta must be positive, got \(beta)") }
    return try detectionLoss("smooth_l1_loss", x, selection) { backend, x, recording in
        try backend.smoothL1Loss(x, selection: selection, beta: beta, recording: recording)
    }
}

private func detectionLoss(_ op: String, _ x: Tensor, _ selection: LossSelection,
                           _ kernel: (any Backend, Tensor, Bool) throws -> (Tensor, Pullback?)) throws -> Tensor {
    guard selection.targets.count == x.count, selection.weights.count == x.count else {
        throw OpError(op: op, "input \(x.shape) has \(x.count) elements but \(selection.targets.count) targets and \(selection.weights.count) weights")
    }
    guard selection.divisor > 0 else { throw OpError(op: op, "the divisor must be positive, got \(selection.divisor)") }
    let x = try x.cast(to: .float32)  // a Float32 host loop
    let (loss, pullback) = try kernel(x.backend, x, Tensor.recording([x]))
    if let pullback { try loss.record(op, inputs: [x], backward: pullback) }
    return loss
}
