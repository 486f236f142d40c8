/// log(softmax(x)) along the last axis, computed stably (x - max - log sum exp(x - max)).
public func logSoftmax(_ x: Tensor) throws -> Tensor {
    let op = "log_softmax"
    guard x.rank >= 1 else { throw OpError(op: op, "needs at least one axis, got shape \(x.shape)") }
    let x = try x.cast(to: .float32)
    let (output, pullback) = try x.backend.logSoftmax(x, recording: Tensor.recording([x]))
    if let pullback { try output.record(op, inputs: [x], backward: pullback) }
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
    let logits = try logits.cast(to: .float32)
    let backend = try commonDevice(op, [logits, target]).backend
    let (loss, pullback) = try backend.crossEntropy(logits, target: target.converted(to: .float32), recording: Tensor.recording([logits, target]))
    if let pullback { try loss.record(op, inputs: [logits, target], backward: pullback) }
    return loss
}

/// Cross-entropy against integer class labels (one-hot targets).
public func crossEntropy(_ logits: Tensor, labels: [Int]) throws -> Tensor {
    guard logits.rank == 2 else { throw OpError(op: "cross_entropy", "logits must be [N, K], got \(logits.shape)") }
    return try crossEntropy(logits, target: oneHot(labels, classes: logits.shape[1], device: logits.device))
}

/// Cross-entropy of class scores against a label per position, as PyTorch's
/// `F.cross_entropy(logits, labels, ignore_index=, label_smoothing=)`: logits [N, K, H, W] with
/// labels [N, H, W] flattened (semantic segmentation), or [N, K] with [N]. The loss is averaged
/// over the positions whose label is not `ignoreIndex` (255 marks "no class" in Pascal VOC's
/// masks and in padding); a batch with every position ignored gives 0 and no gradient (PyTorch:
/// NaN). With `labelSmoothing` eps the target is (1 - eps) on the label plus eps / K on every
/// class, PyTorch's form. The result has shape [1].
public func crossEntropy(_ logits: Tensor, labels: [Int], ignoreIndex: Int, labelSmoothing: Float = 0) throws -> Tensor {
    let op = "cross_entropy"
    guard logits.rank >= 2 else { throw OpError(op: op, "logits must be [N, K] or [N, K, H, W], got \(logits.shape)") }
    let k = logits.shape[1]
    let positions = logits.count / k
    guard labels.count == positions else {
        throw OpError(op: op, "logits \(logits.shape) need \(positions) labels (one per image and position), got \(labels.count)")
    }
    if let bad = labels.firstIndex(where: { $0 != ignoreIndex && !(0..<k).contains($0) }) {
        throw OpError(op: op, "label \(labels[bad]) at index \(bad) is neither a class (0..<\(k)) nor the ignore index \(ignoreIndex)")
    }
    guard labelSmoothing >= 0, labelSmoothing < 1 else { throw OpError(op: op, "label smoothing must be in [0, 1), got \(labelSmoothing)") }
    let logits = try logits.cast(to: .float32)
    let (loss, pullback) = try logits.backend.pixelCrossEntropy(logits, labels: labels.map { Int32($0) }, ignoreIndex: ignoreIndex,
                                                                labelSmoothing: labelSmoothing, recording: Tensor.recording([logits]))
    if let pullback { try loss.record(op, inputs: [logits], backward: pullback) }
    return loss
}

/// [N] labels -> [N, K] one-hot rows.
public func oneHot(_ labels: [Int], classes: Int, device: Device = Device.current) throws -> Tensor {
    guard !labels.isEmpty else { throw OpError(op: "one_hot", "no labels") }
    var values = [Float](repeating: 0, count: labels.count * classes)
    for (i, label) in labels.enumerated() {
        guard (0..<classes).contains(label) else {
            throw OpError(op: "one_hot", "label \(label) at index \(i) is outside 0..<\(classes)")
        }
        values[i * classes + label] = 1
    }
    return try Tensor(shape: [labels.count, classes], scalars: values, device: device)
}
