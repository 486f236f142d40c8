import DNNL
import Glibc

/// log(softmax(x)) along the last axis, computed stably (x - max - log sum exp(x - max)).
public func logSoftmax(_ x: Tensor) throws -> Tensor {
    let op = "log_softmax"
    try x.requireFloat32(op)
    guard x.rank >= 1 else { throw OpError(op: op, "needs at least one axis, got shape \(x.shape)") }
    let input = try x.contiguous()
    let k = x.shape[x.rank - 1], rows = x.count / k
    let output = Tensor(empty: input.descriptor)
    let (px, py) = (input.floats, output.floats)
    for r in 0..<rows {
        let row = px + r * k, out = py + r * k
        var m = -Float.infinity
        for j in 0..<k { m = max(m, row[j]) }
        var sum: Float = 0
        for j in 0..<k { sum += expf(row[j] - m) }
        let lse = m + logf(sum)
        for j in 0..<k { out[j] = row[j] - lse }
    }
    if Tensor.recording([x]) {
        let saved = output.detached()
        output.record(op, inputs: [x]) { gradOutput in
            // d/dx = g - softmax * sum(g) per row.
            let g = try gradOutput.contiguous()
            let dx = Tensor(empty: saved.descriptor)
            let (pg, ps, pd) = (g.floats, saved.floats, dx.floats)
            for r in 0..<rows {
                var total: Float = 0
                for j in 0..<k { total += pg[r * k + j] }
                for j in 0..<k { pd[r * k + j] = pg[r * k + j] - expf(ps[r * k + j]) * total }
            }
            return [dx]
        }
    }
    return output
}

/// Cross-entropy against soft targets, averaged over the batch:
/// loss = -(1/N) sum_n sum_k target[n, k] * log_softmax(logits)[n, k].
///
/// One loss for every target the paper uses: one-hot labels, label smoothing, mixup's mixed
/// labels and a distillation teacher's softmax. `logits` and `target` are [N, K]; the result
/// has shape [1]. Gradients flow to the logits and, if it requires them, to the target.
public func crossEntropy(_ logits: Tensor, target: Tensor) throws -> Tensor {
    let op = "cross_entropy"
    guard logits.rank == 2, target.shape == logits.shape else {
        throw OpError(op: op, "logits must be [N, K] and target the same shape, got logits \(logits.shape), target \(target.shape)")
    }
    let (n, k) = (logits.shape[0], logits.shape[1])
    let logProbs = try GradMode.withoutGradient { try logSoftmax(logits) }
    let q = try target.contiguous()
    let (pl, pq) = (logProbs.floats, q.floats)
    var total: Double = 0
    for i in 0..<n * k { total -= Double(pq[i]) * Double(pl[i]) }
    let loss = try Tensor(shape: [1], scalars: [Float(total / Double(n))])
    if Tensor.recording([logits, target]) {
        let (savedLogProbs, savedTarget) = (logProbs.detached(), q.detached())
        let needTarget = target.requiresGrad
        loss.record(op, inputs: [logits, target]) { gradOutput in
            let g = try gradOutput.item() / Float(n)
            // d/dz_j = g * (softmax_j * sum_k q_k - q_j); d/dq_j = -g * log_softmax_j.
            let dz = Tensor(empty: savedLogProbs.descriptor)
            let (ps, pq, pd) = (savedLogProbs.floats, savedTarget.floats, dz.floats)
            for r in 0..<n {
                var mass: Float = 0
                for j in 0..<k { mass += pq[r * k + j] }
                for j in 0..<k { pd[r * k + j] = g * (expf(ps[r * k + j]) * mass - pq[r * k + j]) }
            }
            return [dz, needTarget ? map1(savedLogProbs) { -g * $0 } : nil]
        }
    }
    return loss
}

/// Cross-entropy against integer class labels (one-hot targets).
public func crossEntropy(_ logits: Tensor, labels: [Int]) throws -> Tensor {
    guard logits.rank == 2 else { throw OpError(op: "cross_entropy", "logits must be [N, K], got \(logits.shape)") }
    return try crossEntropy(logits, target: oneHot(labels, classes: logits.shape[1]))
}

/// [N] labels -> [N, K] one-hot rows.
public func oneHot(_ labels: [Int], classes: Int) throws -> Tensor {
    guard !labels.isEmpty else { throw OpError(op: "one_hot", "no labels") }
    var values = [Float](repeating: 0, count: labels.count * classes)
    for (i, label) in labels.enumerated() {
        guard (0..<classes).contains(label) else {
            throw OpError(op: "one_hot", "label \(label) at index \(i) is outside 0..<\(classes)")
        }
        values[i * classes + label] = 1
    }
    return try Tensor(shape: [labels.count, classes], scalars: values)
}
