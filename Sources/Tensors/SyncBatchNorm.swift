import DNNL
import Foundation

/// Which group BatchNorm layers synchronise their batch statistics over while training
/// (PyTorch's `nn.SyncBatchNorm`); nil, the default, keeps each process's statistics local.
public enum BatchNormSync {
    @TaskLocal public static var collective: (any Collective)?
}

/// Training-mode batch normalisation whose statistics are those of the batches of all
/// processes in `collective` together, as if one process had seen the global batch.
///
/// Forward: the per-channel sums of x and x^2 and the count are summed across processes,
/// giving the global mean and (biased) variance. Backward: with y = gamma * xhat + beta and the
/// loss being the sum of every process's loss, dL/dx_i = gamma / sigma * (dy_i - sum(dy) / M -
/// xhat_i * sum(dy * xhat) / M) with both sums over all M values of all processes: they are
/// summed across processes too. dgamma and dbeta stay local sums; the gradient averaging of
/// data-parallel training combines them. Runs on plain NCHW in Swift (channels in parallel):
/// slower than the oneDNN kernel, used only when asked for.
public func syncBatchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                          collective: any Collective, momentum: Float = 0.1, eps: Float = 1e-5, fusedReLU: Bool = false) throws -> Tensor {
    let op = "sync_batch_norm"
    guard input.rank == 2 || input.rank == 4 else { throw OpError(op: op, "input must be [N, C] or [N, C, H, W], got \(input.shape)") }
    let (n, channels) = (input.shape[0], input.shape[1])
    let spatial = input.rank == 4 ? input.shape[2] * input.shape[3] : 1
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        guard t.shape == [channels] else { throw OpError(op: op, "\(name) has shape \(t.shape) but input \(input.shape) has \(channels) channels") }
    }
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

    let output = Tensor(empty: MemoryDescriptor(plain: input.shape))
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

    if Tensor.recording([input, weight, bias]) {
        let savedX = x.detached(), savedY = output.detached()
        output.record(op, inputs: [input, weight, bias]) { gradOutput in
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
            let dx = Tensor(empty: MemoryDescriptor(plain: input.shape))
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
            let dgamma = try Tensor(shape: [channels], scalars: (0..<channels).map { Float(local[channels + $0]) })
            let dbeta = try Tensor(shape: [channels], scalars: (0..<channels).map { Float(local[$0]) })
            return [dx, weight.requiresGrad ? dgamma : nil, bias.requiresGrad ? dbeta : nil]
        }
    }
    return output
}
