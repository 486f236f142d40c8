/// RoIAlign as torchvision's CPU kernel computes it (`roi_align_kernel.cpp`), for both host
/// backends: the same sample positions, the same clamping at the border, the same order of sums.
extension HostBackend {
    package func roiAlign(_ x: Tensor, geometry: RoIAlignGeometry, recording: Bool) throws -> (Tensor, Pullback?) {
        let input = try contiguous(x)
        let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = geometry.outputSize
        let taps = (0..<geometry.count).map { RoIAlignTaps(geometry, region: $0, height: height, width: width) }
        let output = Tensor(empty: plainLayout([geometry.count, channels, oh, ow], dataType: .float32), device: device)
        let (src, dst) = (SendablePointer(input.floats), SendablePointer(output.floats))
        forEachChunk(geometry.count * channels) { range in
            for plane in range {
                let (region, c) = (plane / channels, plane % channels)
                let t = taps[region], s = src.p + (geometry.batchIndices[region] * channels + c) * height * width
                let d = dst.p + plane * oh * ow
                for bin in 0..<(oh * ow) {
                    var sum: Float = 0
                    for k in (bin * t.perBin)..<((bin + 1) * t.perBin) {
                        let p = t.samples[k]
                        sum += p.w1 * s[p.pos1] + p.w2 * s[p.pos2] + p.w3 * s[p.pos3] + p.w4 * s[p.pos4]
                    }
                    d[bin] = sum / t.count
                }
            }
        }
        guard recording else { return (output, nil) }
        let inputShape = x.shape
        return (output, { gradOutput in
            // Each sample hands its bin's gradient / count back to its four pixels. Regions may
            // share an image, so the images are summed one region after another per channel.
            let g = try self.contiguous(gradOutput)
            let dx = Tensor(empty: self.plainLayout(inputShape, dataType: .float32), device: self.device)
            let (pg, pd) = (SendablePointer(g.floats), SendablePointer(dx.floats))
            pd.p.update(repeating: 0, count: dx.count)
            forEachChunk(channels) { range in
                for c in range {
                    for region in 0..<geometry.count {
                        let t = taps[region], d = pd.p + (geometry.batchIndices[region] * channels + c) * height * width
                        let gp = pg.p + (region * channels + c) * oh * ow
                        for bin in 0..<(oh * ow) {
                            let v = gp[bin]
                            for k in (bin * t.perBin)..<((bin + 1) * t.perBin) {
                                let p = t.samples[k]
                                d[p.pos1] += v * p.w1 / t.count
                                d[p.pos2] += v * p.w2 / t.count
                                d[p.pos3] += v * p.w3 / t.count
                                d[p.pos4] += v * p.w4 / t.count
                            }
                        }
                    }
                }
            }
            return [dx]
        })
    }
}

/// One region's samples: per bin (row-major), `perBin` bilinear samples, each four pixel
/// offsets and weights (all zero for a sample outside the feature map), and the divisor.
struct RoIAlignTaps: Sendable {
    struct Sample: Sendable { var pos1 = 0, pos2 = 0, pos3 = 0, pos4 = 0, w1: Float = 0, w2: Float = 0, w3: Float = 0, w4: Float = 0 }
    var samples: [Sample] = []
    let perBin: Int
    let count: Float

    init(_ g: RoIAlignGeometry, region r: Int, height: Int, width: Int) {
        let offset: Float = g.aligned ? 0.5 : 0
        let startW = g.boxes[4 * r] * g.spatialScale - offset, startH = g.boxes[4 * r + 1] * g.spatialScale - offset
        let endW = g.boxes[4 * r + 2] * g.spatialScale - offset, endH = g.boxes[4 * r + 3] * g.spatialScale - offset
        var (roiW, roiH) = (endW - startW, endH - startH)
        if !g.aligned { (roiW, roiH) = (max(roiW, 1), max(roiH, 1)) }
        let (oh, ow) = g.outputSize
        let binH = roiH / Float(oh), binW = roiW / Float(ow)
        let gridH = g.samplingRatio > 0 ? g.samplingRatio : Int((roiH / Float(oh)).rounded(.up))
        let gridW = g.samplingRatio > 0 ? g.samplingRatio : Int((roiW / Float(ow)).rounded(.up))
        (perBin, count) = (gridH * gridW, Float(max(gridH * gridW, 1)))
        samples.reserveCapacity(oh * ow * perBin)
        for ph in 0..<oh {
            for pw in 0..<ow {
                for iy in 0..<gridH {
                    let yy = startH + Float(ph) * binH + (Float(iy) + 0.5) * binH / Float(gridH)
                    for ix in 0..<gridW {
                        let xx = startW + Float(pw) * binW + (Float(ix) + 0.5) * binW / Float(gridW)
                        samples.append(Self.sample(y: yy, x: xx, height: height, width: width))
                    }
                }
            }
        }
    }

    /// torchvision's `pre_calc_for_bilinear_interpolate` for one point.
    static func sample(y yy: Float, x xx: Float, height: Int, width: Int) -> Sample {
        if yy < -1 || yy > Float(height) || xx < -1 || xx > Float(width) { return Sample() }
        var (y, x) = (max(yy, 0), max(xx, 0))
        var (yLow, xLow) = (Int(y), Int(x))
        let yHigh: Int, xHigh: Int
        if yLow >= height - 1 {
            (yLow, yHigh) = (height - 1, height - 1)
            y = Float(yLow)
        } else {
            yHigh = yLow + 1
        }
        if xLow >= width - 1 {
            (xLow, xHigh) = (width - 1, width - 1)
            x = Float(xLow)
        } else {
            xHigh = xLow + 1
        }
        let (ly, lx) = (y - Float(yLow), x - Float(xLow))
        let (hy, hx) = (1 - ly, 1 - lx)
        return Sample(pos1: yLow * width + xLow, pos2: yLow * width + xHigh, pos3: yHigh * width + xLow, pos4: yHigh * width + xHigh,
                      w1: hy * hx, w2: hy * lx, w3: ly * hx, w4: ly * lx)
    }
}
