import Glibc

/// Bilinear and nearest resize and per-pixel cross-entropy as Swift loops over plain NCHW
/// tensors, for both host backends: FCN's few class-score channels and the FPN's top-down adds
/// make them small next to the convolutions.
extension HostBackend {
    package func upsampleBilinear2d(_ x: Tensor, size: [Int], recording: Bool) throws -> (Tensor, Pullback?) {
        let (h, w, outW) = (x.shape[2], x.shape[3], size[1])
        let (rows, columns) = (BilinearTaps(input: h, output: size[0]), BilinearTaps(input: w, output: size[1]))
        return try resizePlanes(x, size: size, recording: recording, forward: { s, d in
            for oy in 0..<size[0] {
                let (y0, y1, wy) = (rows.low[oy], rows.high[oy], rows.weight[oy])
                for ox in 0..<outW {
                    let (x0, x1, wx) = (columns.low[ox], columns.high[ox], columns.weight[ox])
                    let top = s[y0 * w + x0] * (1 - wx) + s[y0 * w + x1] * wx
                    let bottom = s[y1 * w + x0] * (1 - wx) + s[y1 * w + x1] * wx
                    d[oy * outW + ox] = top * (1 - wy) + bottom * wy
                }
            }
        }, backward: { g, d in
            // Each output's gradient goes back to its four input pixels with the same weights.
            for oy in 0..<size[0] {
                let (y0, y1, wy) = (rows.low[oy], rows.high[oy], rows.weight[oy])
                for ox in 0..<outW {
                    let (x0, x1, wx) = (columns.low[ox], columns.high[ox], columns.weight[ox])
                    let v = g[oy * outW + ox]
                    d[y0 * w + x0] += v * (1 - wy) * (1 - wx)
                    d[y0 * w + x1] += v * (1 - wy) * wx
                    d[y1 * w + x0] += v * wy * (1 - wx)
                    d[y1 * w + x1] += v * wy * wx
                }
            }
        })
    }

    package func upsampleNearest2d(_ x: Tensor, size: [Int], recording: Bool) throws -> (Tensor, Pullback?) {
        let (w, outW) = (x.shape[3], size[1])
        let (rows, columns) = (nearestSourceIndices(input: x.shape[2], output: size[0]), nearestSourceIndices(input: w, output: outW))
        return try resizePlanes(x, size: size, recording: recording, forward: { s, d in
            for oy in 0..<size[0] {
                let row = s + rows[oy] * w
                for ox in 0..<outW { d[oy * outW + ox] = row[columns[ox]] }
            }
        }, backward: { g, d in
            for oy in 0..<size[0] {
                for ox in 0..<outW { d[rows[oy] * w + columns[ox]] += g[oy * outW + ox] }
            }
        })
    }

    /// A resize of plain [N, C, H, W] to [N, C, size[0], size[1]], one plane at a time:
    /// `forward(input plane, output plane)`, and in the pullback `backward(gradient plane, input
    /// gradient plane)` accumulating into a zeroed plane.
    private func resizePlanes(_ x: Tensor, size: [Int], recording: Bool,
                              forward: @escaping @Sendable (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                              backward: @escaping @Sendable (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void)
        throws -> (Tensor, Pullback?) {
        let input = try contiguous(x)
        let (planes, inPlane, outPlane) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3], size[0] * size[1])
        let output = Tensor(empty: plainLayout([x.shape[0], x.shape[1], size[0], size[1]], dataType: .float32), device: device)
        let (src, dst) = (SendablePointer(input.floats), SendablePointer(output.floats))
        forEachChunk(planes) { range in
            for plane in range { forward(src.p + plane * inPlane, dst.p + plane * outPlane) }
        }
        guard recording else { return (output, nil) }
        let inputShape = x.shape
        return (output, { gradOutput in
            let g = try self.contiguous(gradOutput)
            let dx = Tensor(empty: self.plainLayout(inputShape, dataType: .float32), device: self.device)
            let (pg, pd) = (SendablePointer(g.floats), SendablePointer(dx.floats))
            forEachChunk(planes) { range in
                for plane in range {
                    let d = pd.p + plane * inPlane
                    d.update(repeating: 0, count: inPlane)
                    backward(pg.p + plane * outPlane, d)
                }
            }
            return [dx]
        })
    }

    package func pixelCrossEntropy(_ logits: Tensor, labels: [Int32], ignoreIndex: Int, labelSmoothing: Float,
                                   recording: Bool) throws -> (Tensor, Pullback?) {
        let input = try contiguous(logits)
        let (n, k) = (logits.shape[0], logits.shape[1])
        let pixels = logits.count / (n * k)
        let px = input.floats
        // Per pixel: log-softmax over the classes (stride `pixels`), then the loss against
        // (1 - eps) one-hot + eps / K, PyTorch's label_smoothing.
        var total: Double = 0
        var counted = 0
        let logProbs = Tensor(empty: input.layout, device: device)
        let pl = logProbs.floats
        for image in 0..<n {
            for p in 0..<pixels {
                let base = image * k * pixels + p
                var m = -Float.infinity
                for c in 0..<k { m = max(m, px[base + c * pixels]) }
                var sum: Float = 0
                for c in 0..<k { sum += expf(px[base + c * pixels] - m) }
                let lse = m + logf(sum)
                for c in 0..<k { pl[base + c * pixels] = px[base + c * pixels] - lse }
                let label = Int(labels[image * pixels + p])
                if label == ignoreIndex { continue }
                counted += 1
                var loss = -Double(1 - labelSmoothing) * Double(pl[base + label * pixels])
                if labelSmoothing > 0 {
                    var all: Double = 0
                    for c in 0..<k { all += Double(pl[base + c * pixels]) }
                    loss -= Double(labelSmoothing) / Double(k) * all
                }
                total += loss
            }
        }
        // Every pixel ignored (a crop of padding only): loss 0 and no gradient, not PyTorch's NaN.
        let loss = try Tensor(shape: [1], scalars: [counted > 0 ? Float(total / Double(counted)) : 0], device: device)
        guard recording else { return (loss, nil) }
        let saved = logProbs.detached()
        return (loss, { gradOutput in
            let g = counted > 0 ? try gradOutput.item() / Float(counted) : 0
            let dz = self.emptyLike(saved)
            let (ps, pd) = (saved.floats, dz.floats)
            for image in 0..<n {
                for p in 0..<pixels {
                    let base = image * k * pixels + p
                    let label = Int(labels[image * pixels + p])
                    if label == ignoreIndex {
                        for c in 0..<k { pd[base + c * pixels] = 0 }
                        continue
                    }
                    // d/dz_c = g * (softmax_c - target_c), the target summing to 1.
                    for c in 0..<k {
                        let target = labelSmoothing / Float(k) + (c == label ? 1 - labelSmoothing : 0)
                        pd[base + c * pixels] = g * (expf(ps[base + c * pixels]) - target)
                    }
                }
            }
            return [dz]
        })
    }
}
