extension ReferenceBackend {
    /// Max pooling takes the largest tap inside the input (the first of equal ones); average
    /// pooling divides by the window clipped to the padded input (count_include_pad) or to the
    /// input itself, as PyTorch's avg_pool2d. The backward pass sends each output's gradient to
    /// the max's position, or spreads it evenly over the averaged taps.
    package func pool2d(_ input: Tensor, geometry g: PoolGeometry, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = empty(g.output)
        let x = input.floats
        var argmax = [Int](repeating: -1, count: g.kind == .max ? y.count : 0)
        forEachWindow(g) { yi, taps, divisor in
            if g.kind == .max {
                var best = -Float.infinity
                for xi in taps where argmax[yi] < 0 || x[xi] > best { best = x[xi]; argmax[yi] = xi }
                y.floats[yi] = best
            } else {
                y.floats[yi] = taps.reduce(Float(0)) { $0 + x[$1] } / Float(divisor)
            }
        }
        guard recording else { return (y, nil) }
        return (y, { grad in
            let dx = self.zeros(g.input)
            let dy = grad.floats
            self.forEachWindow(g) { yi, taps, divisor in
                if g.kind == .max {
                    if argmax[yi] >= 0 { dx.floats[argmax[yi]] += dy[yi] }
                } else {
                    for xi in taps { dx.floats[xi] += dy[yi] / Float(divisor) }
                }
            }
            return [dx]
        })
    }

    /// Calls `body(output index, input indices inside the window, averaging divisor)` per output.
    private func forEachWindow(_ g: PoolGeometry, _ body: (Int, [Int], Int) -> Void) {
        let (n, c, h, w) = (g.input[0], g.input[1], g.input[2], g.input[3])
        let (oh, ow) = (g.output[2], g.output[3])
        for plane in 0..<(n * c) {
            for i in 0..<oh {
                for j in 0..<ow {
                    var taps: [Int] = []
                    for u in 0..<g.kernel[0] {
                        let ih = i * g.stride[0] - g.padding[0] + u * g.dilation[0]
                        guard ih >= 0, ih < h else { continue }
                        for v in 0..<g.kernel[1] {
                            let iw = j * g.stride[1] - g.padding[1] + v * g.dilation[1]
                            if iw >= 0, iw < w { taps.append((plane * h + ih) * w + iw) }
                        }
                    }
                    // The window clipped to the padded input: PyTorch's count_include_pad divisor.
                    let rows = min(i * g.stride[0] - g.padding[0] + g.kernel[0], h + g.padding[0]) - (i * g.stride[0] - g.padding[0])
                    let cols = min(j * g.stride[1] - g.padding[1] + g.kernel[1], w + g.padding[1]) - (j * g.stride[1] - g.padding[1])
                    let divisor = g.kind == .averageIncludingPadding ? rows * cols : taps.count
                    body((plane * oh + i) * ow + j, taps, divisor)
                }
            }
        }
    }
}
