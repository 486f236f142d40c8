extension ReferenceBackend {
    /// y = (x - mean) / sqrt(var + eps) * gamma + beta per channel (axis 1), then max(y, 0) when
    /// fused. Training: the batch's mean and biased variance, and running = (1 - momentum) *
    /// running + momentum * batch statistic (the variance unbiased), as PyTorch. Inference: the
    /// running statistics. Statistics are summed in Double.
    package func batchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                           training: Bool, momentum: Float, eps: Float, fusedReLU: Bool, recording: Bool) throws -> (Tensor, Pullback?) {
        let (n, c) = (input.shape[0], input.shape[1])
        let inner = input.count / (n * c), m = n * inner
        let x = input.floats
        func at(_ b: Int, _ ch: Int, _ k: Int) -> Int { (b * c + ch) * inner + k }
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for ch in 0..<c {
            if training {
                var s = 0.0
                for b in 0..<n { for k in 0..<inner { s += Double(x[at(b, ch, k)]) } }
                mean[ch] = s / Double(m)
                var v = 0.0
                for b in 0..<n { for k in 0..<inner { let d = Double(x[at(b, ch, k)]) - mean[ch]; v += d * d } }
                variance[ch] = v / Double(m)
            } else {
                mean[ch] = Double(runningMean.floats[ch])
                variance[ch] = Double(runningVar.floats[ch])
            }
        }
        let invStd = variance.map { 1 / ($0 + Double(eps)).squareRoot() }
        let (gamma, beta) = (weight.floats, bias.floats)
        let y = empty(input.shape)
        for b in 0..<n {
            for ch in 0..<c {
                for k in 0..<inner {
                    let i = at(b, ch, k)
                    let value = Float((Double(x[i]) - mean[ch]) * invStd[ch]) * gamma[ch] + beta[ch]
                    y.floats[i] = fusedReLU ? max(value, 0) : value
                }
            }
        }
        if training {
            let batchMean = try Tensor(shape: [c], scalars: mean.map(Float.init), device: .reference)
            let unbiased = try Tensor(shape: [c], scalars: variance.map { Float($0 * Double(m) / Double(m - 1)) }, device: .reference)
            try updateRunningStatistic(runningMean, batch: batchMean, momentum: momentum, correction: 1)
            try updateRunningStatistic(runningVar, batch: unbiased, momentum: momentum, correction: 1)
        }
        guard recording else { return (y, nil) }
        let (savedX, savedY, savedGamma) = (input.detached(), y.detached(), weight.detached())
        return (y, { g in
            let (x, out, dy, gamma) = (savedX.floats, savedY.floats, g.floats, savedGamma.floats)
            let dx = self.empty(savedX.shape), dgamma = self.zeros([c]), dbeta = self.zeros([c])
            for ch in 0..<c {
                // dL/dy masked by the fused ReLU; sums of dy and dy * xhat over the channel.
                var sumDy = 0.0, sumDyXhat = 0.0
                for b in 0..<n {
                    for k in 0..<inner {
                        let i = at(b, ch, k)
                        let d = !fusedReLU || out[i] > 0 ? Double(dy[i]) : 0
                        sumDy += d
                        sumDyXhat += d * (Double(x[i]) - mean[ch]) * invStd[ch]
                    }
                }
                dgamma.floats[ch] = Float(sumDyXhat)
                dbeta.floats[ch] = Float(sumDy)
                let scale = Double(gamma[ch]) * invStd[ch]
                for b in 0..<n {
                    for k in 0..<inner {
                        let i = at(b, ch, k)
                        let d = !fusedReLU || out[i] > 0 ? Double(dy[i]) : 0
                        let xhat = (Double(x[i]) - mean[ch]) * invStd[ch]
                        // Training: the statistics depend on x too; inference: they are constants.
                        dx.floats[i] = Float(training ? scale * (d - sumDy / Double(m) - xhat * sumDyXhat / Double(m)) : scale * d)
                    }
                }
            }
            return [dx, dgamma, dbeta]
        })
    }
}
