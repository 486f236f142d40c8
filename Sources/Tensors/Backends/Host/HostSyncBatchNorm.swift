import Foundation

extension HostBackend {
    /// SyncBatchNorm on plain NCHW in Swift (channels in parallel), for both host backends:
    /// the formulas are in `syncBatchNorm`'s comment.
    package func syncBatchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                               collective: any Collective, momentum: Float, eps: Float, fusedReLU: Bool,
                               recording: Bool) throws -> (Tensor, Pullback?) {
    let op = "sync_batch_norm"
    let (n, channels, device) = (input.shape[0], input.shape[1], self.device)
    let spatial = input.rank == 4 ? input.shape[2] * input.shape[3] : 1
    let x = try input.converted(to: .float32).contiguous()
    let gamma = try weight.scalars, beta = try bias.scalars

    // Global sums: [sum x per channel..., sum x^2 per channel..., count].
    var sums = [Double](repeating: 0, count: 2 * channels + 1)
    let xs = SendablePointer(x.floats)
    sums.withUnsafeMutableBufferPointer { s in
        let s = SendablePointer(s.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: channels) { c in
            var (sum, squares) = (0.0, 0.0)
            for b in 0..<n {
                let row = xs.p + (b * channels + c) * spatial
                for i in 0..<spatial { let v = Double(row[i]); sum += v; squares += v * v }
            }
            s.p[c] = sum
            s.p[channels + c] = squares
        }
    }
    sums[2 * channels] = Double(n * spatial)
    sums = try collective.allreduceSum(sums)
    let total = sums[2 * channels]
    guard total >= 2 else { throw OpError(op: op, "training needs more than one value per channel over all processes, got input \(input.shape)") }
    let mean = (0..<channels).map { sums[$0] / total }
    let variance = (0..<channels).map { max(0, sums[channels + $0] / total - mean[$0] * mean[$0]) }
    let invStd = variance.map { 1 / ($0 + Double(eps)).squareRoot() }

    let output = Tensor(empty: plainLayout(input.shape, dataType: .float32), device: device)
    let ys = SendablePointer(output.floats)
    DispatchQueue.concurrentPerform(iterations: channels) { c in
        let scale = Float(Double(gamma[c]) * invStd[c]), shift = Float(Double(beta[c]) - mean[c] * Double(gamma[c]) * invStd[c])
        for b in 0..<n {
            let offset = (b * channels + c) * spatial
            for i in 0..<spatial {
                let y = xs.p[offset + i] * scale + shift
                ys.p[offset + i] = fusedReLU ? max(y, 0) : y
            }
        }
    }
    try runningMean.assign(zip(try runningMean.scalars, mean).map { (1 - momentum) * $0 + momentum * Float($1) })
    try runningVar.assign(zip(try runningVar.scalars, variance).map { (1 - momentum) * $0 + momentum * Float($1 * total / (total - 1)) })

    guard recording else { return (output, nil) }
    let savedX = x.detached(), savedY = output.detached()
    let (needWeight, needBias) = (weight.requiresGrad, bias.requiresGrad)
    return (output, { gradOutput in
            let dy = try gradOutput.converted(to: .float32).contiguous()
            let (xs, ys, dys) = (SendablePointer(savedX.floats), SendablePointer(savedY.floats), SendablePointer(dy.floats))
            // Local [sum dy, sum dy * xhat] per channel (dy masked by the fused ReLU), then global.
            var local = [Double](repeating: 0, count: 2 * channels)
            local.withUnsafeMutableBufferPointer { s in
                let s = SendablePointer(s.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: channels) { c in
                    var (sumDy, sumDyXhat) = (0.0, 0.0)
                    for b in 0..<n {
                        let offset = (b * channels + c) * spatial
                        for i in 0..<spatial where !fusedReLU || ys.p[offset + i] > 0 {
                            let g = Double(dys.p[offset + i])
                            sumDy += g
                            sumDyXhat += g * (Double(xs.p[offset + i]) - mean[c]) * invStd[c]
                        }
                    }
                    s.p[c] = sumDy
                    s.p[channels + c] = sumDyXhat
                }
            }
            let global = try collective.allreduceSum(local)
            let dx = Tensor(empty: self.plainLayout(input.shape, dataType: .float32), device: device)
            let dxs = SendablePointer(dx.floats)
            DispatchQueue.concurrentPerform(iterations: channels) { c in
                let meanDy = global[c] / total, meanDyXhat = global[channels + c] / total
                let k = Double(gamma[c]) * invStd[c]
                for b in 0..<n {
                    let offset = (b * channels + c) * spatial
                    for i in 0..<spatial {
                        let g = !fusedReLU || ys.p[offset + i] > 0 ? Double(dys.p[offset + i]) : 0
                        let xhat = (Double(xs.p[offset + i]) - mean[c]) * invStd[c]
                        dxs.p[offset + i] = Float(k * (g - meanDy - xhat * meanDyXhat))
                    }
                }
            }
            let dgamma = try Tensor(shape: [channels], scalars: (0..<channels).map { Float(local[channels + $0]) }, device: device)
            let dbeta = try Tensor(shape: [channels], scalars: (0..<channels).map { Float(local[$0]) }, device: device)
            return [dx, needWeight ? dgamma : nil, needBias ? dbeta : nil]
    })
}
}
