import Glibc

/// A backend whose memory is the host's (the oneDNN CPU backend and the reference backend).
/// The kernels here are Swift loops over stored elements, written once for both: they work in
/// any layout whose padding holds zeros, since they map stored elements one to one or need a
/// plain layout, which they ask for.
package protocol HostBackend: Backend {}

extension Tensor {
    /// Uninitialised storage (zero where the layout pads) in `layout`, on `device`.
    package convenience init(empty layout: any Layout, device: Device) {
        self.init(shape: layout.dims, layout: layout, device: device,
                  storage: HostStorage(byteCount: layout.byteCount, zeroed: layout.isPadded))
    }

    /// The host buffer as Float32. Only host backends call this, on their own tensors.
    package var floats: UnsafeMutablePointer<Float> { (storage as! HostStorage).floats }
    package var hostPointer: UnsafeMutableRawPointer { (storage as! HostStorage).pointer }

    /// Elements physically stored, padding included.
    package var physicalCount: Int { layout.byteCount / dataType.byteCount }
}

extension HostBackend {
    /// A new tensor in `x`'s layout and device.
    func emptyLike(_ x: Tensor) -> Tensor { Tensor(empty: x.layout, device: x.device) }

    package func scalars(_ x: Tensor) throws -> [Float] {
        let plain = try contiguous(converted(x, to: .float32))
        return Array(UnsafeBufferPointer(start: plain.floats, count: x.count))
    }

    package func converted(_ x: Tensor, to type: DataType) throws -> Tensor { try hostConverted(x, to: type) }

    /// Element type conversion by a Swift loop, in any layout.
    package func hostConverted(_ x: Tensor, to type: DataType) throws -> Tensor {
        if type == x.dataType { return x }
        let result = Tensor(empty: x.layout.with(dataType: type), device: x.device)
        let n = x.physicalCount
        switch (x.dataType, type) {
        case (.float32, .float16):
            let (src, dst) = (x.floats, result.hostPointer.assumingMemoryBound(to: Float16.self))
            for i in 0..<n { dst[i] = Float16(src[i]) }
        case (.float32, .bfloat16):
            let (src, dst) = (x.floats, result.hostPointer.assumingMemoryBound(to: UInt16.self))
            for i in 0..<n { dst[i] = bfloat16Bits(src[i]) }
        case (.float16, .float32):
            let (src, dst) = (x.hostPointer.assumingMemoryBound(to: Float16.self), result.floats)
            for i in 0..<n { dst[i] = Float(src[i]) }
        case (.bfloat16, .float32):
            let (src, dst) = (x.hostPointer.assumingMemoryBound(to: UInt16.self), result.floats)
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
        default:
            return try hostConverted(hostConverted(x, to: .float32), to: type)
        }
        return result
    }

    package func roundInPlace(_ x: Tensor, to type: DataType) throws {
        guard x.dataType == .float32, type != .float32 else { return }
        let p = SendablePointer(x.floats)
        // Runs for every activation: on all cores.
        forEachChunk(x.physicalCount) { range in
            if type == .float16 {
                for i in range { p.p[i] = roundedToHalf(p.p[i]) }
            } else {
                for i in range { p.p[i] = Float(bitPattern: UInt32(bfloat16Bits(p.p[i])) << 16) }
            }
        }
    }

    package func multiply(_ a: Tensor, _ b: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let bb = try reordered(b, like: a)
        let result = try map2(a, bb) { $0 * $1 }
        guard recording else { return (result, nil) }
        let (savedA, savedB) = (a.detached(), bb.detached())
        return (result, { g in
            let g = try self.reordered(g, like: savedA)
            return [try self.map2(g, savedB) { $0 * $1 }, try self.map2(g, savedA) { $0 * $1 }]
        })
    }

    package func scale(_ x: Tensor, by factor: Float) throws -> Tensor { map1(x) { $0 * factor } }

    /// In the input's layout (padding stays 0); the backward pass reads the input.
    package func relu6(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = map1(x) { min(max($0, 0), 6) }
        guard recording else { return (y, nil) }
        let saved = x.detached()
        return (y, { g in [try self.map2(self.reordered(g, like: saved), saved) { d, v in v > 0 && v < 6 ? d : 0 }] })
    }

    package func dropout(_ x: Tensor, p: Float, generator: inout SeededGenerator, recording: Bool) throws -> (Tensor, Pullback?) {
        let keep = 1 / (1 - p)
        // The mask covers the stored elements (padding too, where it multiplies zeros).
        let mask = emptyLike(x)
        let m = mask.floats
        for i in 0..<x.physicalCount { m[i] = Float.random(in: 0..<1, using: &generator) < p ? 0 : keep }
        let output = try map2(x, mask) { $0 * $1 }
        guard recording else { return (output, nil) }
        return (output, { g in [try self.map2(try self.reordered(g, like: mask), mask) { $0 * $1 }] })
    }

    package func logSoftmax(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let input = try contiguous(x)
        let k = x.shape[x.rank - 1], rows = x.count / k
        let output = emptyLike(input)
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
        guard recording else { return (output, nil) }
        let saved = output.detached()
        return (output, { gradOutput in
            // d/dx = g - softmax * sum(g) per row.
            let g = try self.contiguous(gradOutput)
            let dx = self.emptyLike(saved)
            let (pg, ps, pd) = (g.floats, saved.floats, dx.floats)
            for r in 0..<rows {
                var total: Float = 0
                for j in 0..<k { total += pg[r * k + j] }
                for j in 0..<k { pd[r * k + j] = pg[r * k + j] - expf(ps[r * k + j]) * total }
            }
            return [dx]
        })
    }

    package func crossEntropy(_ logits: Tensor, target: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let (n, k) = (logits.shape[0], logits.shape[1])
        let (logProbs, _) = try logSoftmax(logits, recording: false)
        let q = try contiguous(target)
        let (pl, pq) = (logProbs.floats, q.floats)
        var total: Double = 0
        for i in 0..<n * k { total -= Double(pq[i]) * Double(pl[i]) }
        let loss = try Tensor(shape: [1], scalars: [Float(total / Double(n))], device: device)
        guard recording else { return (loss, nil) }
        let (savedLogProbs, savedTarget) = (logProbs.detached(), q.detached())
        let needTarget = target.requiresGrad
        return (loss, { gradOutput in
            let g = try gradOutput.item() / Float(n)
            // d/dz_j = g * (softmax_j * sum_k q_k - q_j); d/dq_j = -g * log_softmax_j.
            let dz = self.emptyLike(savedLogProbs)
            let (ps, pq, pd) = (savedLogProbs.floats, savedTarget.floats, dz.floats)
            for r in 0..<n {
                var mass: Float = 0
                for j in 0..<k { mass += pq[r * k + j] }
                for j in 0..<k { pd[r * k + j] = g * (expf(ps[r * k + j]) * mass - pq[r * k + j]) }
            }
            return [dz, needTarget ? self.map1(savedLogProbs) { -g * $0 } : nil]
        })
    }

    package func sum(_ x: Tensor) throws -> Float {
        let plain = try contiguous(x)
        var total: Double = 0
        for i in 0..<x.count { total += Double(plain.floats[i]) }
        return Float(total)
    }

    /// f applied to every stored element (padding included: f(0) must be 0 where the layout
    /// pads, which holds for the linear maps used here).
    func map1(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        let result = emptyLike(x)
        let (px, pr) = (x.floats, result.floats)
        for i in 0..<x.physicalCount { pr[i] = f(px[i]) }
        return result
    }

    /// f over two tensors of the same layout.
    func map2(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) throws -> Tensor {
        precondition(a.layout.isEqual(to: b.layout))
        let result = emptyLike(a)
        let (pa, pb, pr) = (a.floats, b.floats, result.floats)
        for i in 0..<a.physicalCount { pr[i] = f(pa[i], pb[i]) }
        return result
    }

    /// running = (1 - momentum) * running + momentum * correction * batch, in place
    /// (BatchNorm's running statistics, which stay plain).
    func updateRunningStatistic(_ running: Tensor, batch: Tensor, momentum: Float, correction: Float) throws {
        guard running.isPlain, batch.isPlain else {
            throw OpError(op: "batch_norm", "running statistics must be plain tensors, got \(running.layout)")
        }
        let r = running.floats, b = batch.floats
        for i in 0..<running.count { r[i] = (1 - momentum) * r[i] + momentum * correction * b[i] }
    }
}
