import Glibc

/// Faster R-CNN's two weighted losses (`DetectionLosses.swift`) as Swift loops for both host
/// backends: they cover a few thousand anchors or proposals, small beside the convolutions.
extension HostBackend {
    package func binaryCrossEntropyWithLogits(_ x: Tensor, selection: LossSelection, recording: Bool) throws -> (Tensor, Pullback?) {
        try weightedLoss(x, selection: selection, recording: recording) { v, t in
            (max(v, 0) - v * t + log1pf(expf(-abs(v))), 1 / (1 + expf(-v)) - t)
        }
    }

    package func smoothL1Loss(_ x: Tensor, selection: LossSelection, beta: Float, recording: Bool) throws -> (Tensor, Pullback?) {
        try weightedLoss(x, selection: selection, recording: recording) { v, t in
            let d = v - t
            return abs(d) < beta ? (0.5 * d * d / beta, d / beta) : (abs(d) - 0.5 * beta, d > 0 ? 1 : -1)
        }
    }

    /// sum_i w_i loss(x_i, t_i) / divisor, and the gradient w_i dloss/dx_i / divisor.
    private func weightedLoss(_ x: Tensor, selection: LossSelection, recording: Bool,
                              _ term: (Float, Float) -> (loss: Float, derivative: Float)) throws -> (Tensor, Pullback?) {
        let input = try contiguous(x)
        let px = input.floats
        var total: Double = 0
        var derivatives = recording ? [Float](repeating: 0, count: x.count) : []
        for i in 0..<x.count where selection.weights[i] != 0 {
            let (loss, derivative) = term(px[i], selection.targets[i])
            total += Double(selection.weights[i] * loss)
            if recording { derivatives[i] = selection.weights[i] * derivative / selection.divisor }
        }
        let result = try Tensor(shape: [1], scalars: [Float(total / Double(selection.divisor))], device: device)
        guard recording else { return (result, nil) }
        let shape = x.shape
        return (result, { gradOutput in
            let g = try gradOutput.item()
            return [try Tensor(shape: shape, scalars: derivatives.map { $0 * g }, device: self.device)]
        })
    }
}
