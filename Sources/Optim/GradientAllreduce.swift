import Tensors

/// Data-parallel training's gradient exchange: every gradient summed over the processes of
/// `collective`, in buckets of about `bucketMB` (PyTorch's DDP default: 25), last layers first
/// as DDP orders them. Pass the same parameters in the same order on every process; the
/// caller divides by the number of processes (SGD's gradientScale), so the result is the mean.
///
/// Not overlapped with the backward pass: on this 2-core machine the ranks share the cores
/// the backward pass runs on, so there is nothing to overlap with; `tricks bench allreduce`
/// measures what it costs (docs/distributed.md).
public func allreduceGradients(_ parameters: [Tensor], collective: any Collective, bucketMB: Double = 25) throws {
    guard collective.size > 1 else { return }
    let gradients = parameters.reversed().compactMap(\.grad)
    let capacity = max(1, Int(bucketMB * 1_048_576) / MemoryLayout<Float>.size)
    var bucket: [Float] = [], members: [Tensor] = []
    func flush() throws {
        guard !bucket.isEmpty else { return }
        try bucket.withUnsafeMutableBufferPointer { try collective.allreduceSum($0) }
        var offset = 0
        for grad in members {
            let part = bucket[offset ..< offset + grad.count]
            // Gradients are plain Float32 (the optimiser's layout): copy straight back (through
            // a copy where they are in a GPU's memory).
            if grad.isPlain && grad.dataType == .float32 && grad.isInHostMemory {
                try grad.withUnsafeMutableFloats { g in _ = g.update(fromContentsOf: part) }
            } else {
                try grad.assign(Array(part))
            }
            offset += grad.count
        }
        (bucket, members) = ([], [])
    }
    for grad in gradients {
        if !bucket.isEmpty && bucket.count + grad.count > capacity { try flush() }
        if grad.isPlain && grad.dataType == .float32 && grad.isInHostMemory {
            try grad.withUnsafeMutableFloats { bucket.append(contentsOf: $0) }
        } else {
            bucket += try grad.scalars
        }
        members.append(grad)
    }
    try flush()
}
