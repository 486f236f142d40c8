extension ReferenceBackend {
    /// y[n, o, i, j] = b[o] + sum over the group's input channels c and kernel taps (u, v) of
    /// x[n, c, i*s - p + u*d, j*s - p + v*d] * w[o, c, u, v], taps outside the input being zero.
    /// The backward pass runs the same loops and scatters instead of gathering.
    package func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, geometry: ConvGeometry,
                        recording: Bool) throws -> (Tensor, Pullback?) {
        let y = zeros(geometry.output)
        let (x, w, out) = (input.floats, weight.floats, y.floats)
        forEachTap(geometry) { yi, xi, wi in out[yi] += x[xi] * w[wi] }
        let (oc, plane) = (geometry.output[1], geometry.output[2] * geometry.output[3])
        for index in 0..<y.count {
            out[index] += bias?.floats[(index / plane) % oc] ?? 0
        }
        guard recording else { return (y, nil) }
        let (savedX, savedW, hasBias) = (input.detached(), weight.detached(), bias != nil)
        return (y, { g in
            let dx = self.zeros(geometry.input), dw = self.zeros(geometry.weight), db = self.zeros([oc])
            let (dy, x, w) = (g.floats, savedX.floats, savedW.floats)
            let (pdx, pdw) = (dx.floats, dw.floats)
            self.forEachTap(geometry) { yi, xi, wi in
                pdx[xi] += dy[yi] * w[wi]
                pdw[wi] += dy[yi] * x[xi]
            }
            for index in 0..<g.count { db.floats[(index / plane) % oc] += dy[index] }
            return [dx, dw, hasBias ? db : nil]
        })
    }

    /// Calls `body(output index, input index, weight index)` for every product of the convolution.
    private func forEachTap(_ g: ConvGeometry, _ body: (Int, Int, Int) -> Void) {
        let (n, c, h, w) = (g.input[0], g.input[1], g.input[2], g.input[3])
        let (o, cg, kh, kw) = (g.weight[0], g.weight[1], g.weight[2], g.weight[3])
        let (oh, ow) = (g.output[2], g.output[3])
        let og = o / g.groups
        for b in 0..<n {
            for oc in 0..<o {
                let group = oc / og
                for i in 0..<oh {
                    for j in 0..<ow {
                        let yi = ((b * o + oc) * oh + i) * ow + j
                        for ic in 0..<cg {
                            for u in 0..<kh {
                                let ih = i * g.stride[0] - g.padding[0] + u * g.dilation[0]
                                guard ih >= 0, ih < h else { continue }
                                for v in 0..<kw {
                                    let iw = j * g.stride[1] - g.padding[1] + v * g.dilation[1]
                                    guard iw >= 0, iw < w else { continue }
                                    body(yi, ((b * c + group * cg + ic) * h + ih) * w + iw, ((oc * cg + ic) * kh + u) * kw + v)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
