import Foundation

/// Naive Double-precision implementations of each op, written from PyTorch's documented
/// semantics and independent of the code under test. Arrays are row-major NCHW.
enum Reference {
    static func outputSize(_ size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool) -> Int {
        let numerator = size + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0)
        var n = Int((Double(numerator) / Double(stride)).rounded(.down)) + 1
        if ceilMode && (n - 1) * stride >= size + padding { n -= 1 }
        return n
    }

    static func conv2d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], _ b: [Double]?,
                       stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int) -> [Double] {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3])
        let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
        let oh = outputSize(h, kernel: kh, stride: stride.0, padding: padding.0, dilation: dilation.0, ceilMode: false)
        let ow = outputSize(wd, kernel: kw, stride: stride.1, padding: padding.1, dilation: dilation.1, ceilMode: false)
        let og = o / groups
        var y = [Double](repeating: 0, count: n * o * oh * ow)
        for b0 in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow {
            var acc = b?[oc] ?? 0
            let g = oc / og
            for ic in 0..<cg { for u in 0..<kh { for v in 0..<kw {
                let ih = i * stride.0 - padding.0 + u * dilation.0, iw = j * stride.1 - padding.1 + v * dilation.1
                guard ih >= 0, ih < h, iw >= 0, iw < wd else { continue }
                acc += x[((b0 * c + g * cg + ic) * h + ih) * wd + iw] * w[((oc * cg + ic) * kh + u) * kw + v]
            } } }
            y[((b0 * o + oc) * oh + i) * ow + j] = acc
        } } } }
        return y
    }

    /// Batch norm over axis 1. Training: biased batch variance; returns (y, mean, biased var).
    static func batchNorm(_ x: [Double], _ xs: [Int], gamma: [Double], beta: [Double], mean runningMean: [Double]?,
                          variance runningVar: [Double]?, eps: Double, relu: Bool) -> (y: [Double], mean: [Double], variance: [Double]) {
        let n = xs[0], c = xs[1], inner = xs.count == 4 ? xs[2] * xs[3] : 1
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        let m = Double(n * inner)
        for ch in 0..<c {
            if let runningMean, let runningVar {
                mean[ch] = runningMean[ch]
                variance[ch] = runningVar[ch]
                continue
            }
            var s = 0.0
            for b in 0..<n { for k in 0..<inner { s += x[(b * c + ch) * inner + k] } }
            mean[ch] = s / m
            var v = 0.0
            for b in 0..<n { for k in 0..<inner { let d = x[(b * c + ch) * inner + k] - mean[ch]; v += d * d } }
            variance[ch] = v / m
        }
        var y = x
        for b in 0..<n { for ch in 0..<c { for k in 0..<inner {
            let i = (b * c + ch) * inner + k
            let value = (x[i] - mean[ch]) / (variance[ch] + eps).squareRoot() * gamma[ch] + beta[ch]
            y[i] = relu ? max(0, value) : value
        } } }
        return (y, mean, variance)
    }

    enum Pool { case max, average(countIncludePad: Bool) }

    static func pool2d(_ x: [Double], _ xs: [Int], kind: Pool, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                       dilation: (Int, Int) = (1, 1), ceilMode: Bool) -> [Double] {
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3])
        let oh = outputSize(h, kernel: kernel.0, stride: stride.0, padding: padding.0, dilation: dilation.0, ceilMode: ceilMode)
        let ow = outputSize(w, kernel: kernel.1, stride: stride.1, padding: padding.1, dilation: dilation.1, ceilMode: ceilMode)
        var y = [Double]()
        for b in 0..<n { for ch in 0..<c { for i in 0..<oh { for j in 0..<ow {
            let base = (b * c + ch) * h * w
            switch kind {
            case .max:
                var best = -Double.infinity
                for u in 0..<kernel.0 { for v in 0..<kernel.1 {
                    let ih = i * stride.0 - padding.0 + u * dilation.0, iw = j * stride.1 - padding.1 + v * dilation.1
                    if ih >= 0, ih < h, iw >= 0, iw < w { best = max(best, x[base + ih * w + iw]) }
                } }
                y.append(best)
            case .average(let includePad):
                // PyTorch's avg_pool2d: the divisor counts padding but not the overhang past it.
                var hs = i * stride.0 - padding.0, ws = j * stride.1 - padding.1
                var he = min(hs + kernel.0, h + padding.0), we = min(ws + kernel.1, w + padding.1)
                let poolSize = (he - hs) * (we - ws)
                hs = max(hs, 0); ws = max(ws, 0); he = min(he, h); we = min(we, w)
                var s = 0.0
                for ih in hs..<max(he, hs) { for iw in ws..<max(we, ws) { s += x[base + ih * w + iw] } }
                y.append(s / Double(includePad ? poolSize : (he - hs) * (we - ws)))
            }
        } } } }
        return y
    }

    static func linear(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], _ b: [Double]?) -> [Double] {
        let (n, k, o) = (xs[0], xs[1], ws[0])
        var y = [Double](repeating: 0, count: n * o)
        for r in 0..<n { for j in 0..<o {
            var acc = b?[j] ?? 0
            for i in 0..<k { acc += x[r * k + i] * w[j * k + i] }
            y[r * o + j] = acc
        } }
        return y
    }

    static func logSoftmax(_ x: [Double], width k: Int) -> [Double] {
        var y = x
        for r in 0..<(x.count / k) {
            let row = x[r * k ..< (r + 1) * k]
            let m = row.max()!
            let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
            for j in 0..<k { y[r * k + j] = x[r * k + j] - lse }
        }
        return y
    }

    static func crossEntropy(_ z: [Double], _ q: [Double], width k: Int) -> Double {
        let lp = logSoftmax(z, width: k)
        return -zip(lp, q).map { $0 * $1 }.reduce(0, +) / Double(z.count / k)
    }

    /// Concatenation along `axis` of row-major tensors.
    static func concat(_ xs: [[Double]], shapes: [[Int]], axis: Int) -> [Double] {
        let outer = shapes[0][..<axis].reduce(1, *)
        var y = [Double]()
        for o in 0..<outer {
            for (x, s) in zip(xs, shapes) {
                let chunk = s[axis...].reduce(1, *)
                y += x[o * chunk ..< (o + 1) * chunk]
            }
        }
        return y
    }
}
