import Foundation

/// One logged training step (a line of `steps.jsonl`): what the curves draw between epochs.
public struct StepPoint: Sendable, Equatable {
    public var iteration: Int, loss: Double, lr: Double
    public init(iteration: Int, loss: Double, lr: Double) { (self.iteration, self.loss, self.lr) = (iteration, loss, lr) }

    /// One line of `steps.jsonl`; nil if it does not read as a step.
    public init?(line: Substring) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let iteration = object["iteration"] as? Double, let loss = object["loss"] as? Double, let lr = object["lr"] as? Double
        else { return nil }
        self.init(iteration: Int(iteration), loss: loss, lr: lr)
    }

    /// The points of a `steps.jsonl` file (none if it is missing; unreadable lines are skipped).
    public static func read(_ path: String) -> [StepPoint] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap(StepPoint.init(line:))
    }
}

/// Training curves as one SVG: loss (each logged step, and each epoch's training and
/// validation mean), the validation `metric` (top-1, mIoU), and the learning rate of each logged step (warmup and
/// step drops show), against epochs. Ticks at round numbers with light gridlines; a y range
/// never narrower than `minimumSpan` of the panel's scale, so that noise does not fill it.
/// Plain SVG, so any browser shows it.
public func trainingCurvesSVG<Metrics>(_ history: [EpochResult<Metrics>], metric: (name: String, value: KeyPath<Metrics, Double>),
                                       steps: [StepPoint] = [], stepsPerEpoch: Int = 1, title: String) -> String {
    typealias Series = (name: String, color: String, points: [(Double, Double)], markers: Bool, width: Double)
    let epochEnds = history.map { Double($0.epoch) }
    let stepX = steps.map { Double($0.iteration) / Double(max(stepsPerEpoch, 1)) }
    // minimumSpan: of the largest value (loss 10%, lr 100%), or in points for the metric (5).
    let panels: [(title: String, series: [Series], floorAtZero: Bool, minimumSpan: Double, absoluteSpan: Bool)] = [
        ("loss", [("train (logged steps)", "#aec7e8", Array(zip(stepX, steps.map(\.loss))), false, 1),
                  ("train (epoch mean)", "#1f77b4", Array(zip(epochEnds, history.map(\.trainLoss))), true, 2),
                  ("validation", "#d62728", Array(zip(epochEnds, history.map(\.valLoss))), true, 2)], true, 0.1, false),
        (metric.name, [(metric.name, "#2ca02c", Array(zip(epochEnds, history.map { $0.metrics[keyPath: metric.value] })), true, 2)], false, 5, true),
        ("learning rate", [("lr (logged steps)", "#9467bd", Array(zip(stepX, steps.map(\.lr))), false, 1.5),
                           ("lr (end of epoch)", "#9467bd", Array(zip(epochEnds, history.map(\.lr))), true, 0)], true, 1, false),
    ]
    let (panelWidth, panelHeight, margin) = (300.0, 220.0, 55.0)
    var svg = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(3 * (panelWidth + margin) + margin))" height="\(Int(panelHeight + 2 * margin + 20))" font-family="sans-serif" font-size="11">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(margin)" y="18" font-size="14">\(escape(title))</text>\n
    """
    let lastEpoch = max(1, (epochEnds + stepX).max() ?? 1)
    let xTicks = roundTicks(low: 0, high: lastEpoch, count: 6)
    for (index, panel) in panels.enumerated() {
        let x0 = margin + Double(index) * (panelWidth + margin), y0 = margin + 10
        let values = panel.series.flatMap { $0.points.map(\.1) }.filter(\.isFinite)
        var (low, high) = (values.min() ?? 0, values.max() ?? 1)
        let span = max(high - low, panel.absoluteSpan ? panel.minimumSpan : panel.minimumSpan * max(abs(high), 1e-9), 1e-12)
        let middle = (low + high) / 2
        (low, high) = (high - low < span ? middle - span / 2 : low, high - low < span ? middle + span / 2 : high)
        if panel.floorAtZero && values.allSatisfy({ $0 >= 0 }) && low < 0.5 * high { low = 0 }
        let yTicks = roundTicks(low: low, high: high, count: 5)
        (low, high) = (min(low, yTicks.first ?? low), max(high, yTicks.last ?? high))
        func px(_ e: Double) -> Double { x0 + e / lastEpoch * panelWidth }
        func py(_ v: Double) -> Double { y0 + panelHeight - (v - low) / (high - low) * panelHeight }
        svg += "<text x=\"\(x0)\" y=\"\(y0 - 6)\">\(escape(panel.title))</text>\n"
        for v in yTicks {
            svg += "<line x1=\"\(x0)\" x2=\"\(x0 + panelWidth)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(x0 - 4)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(tickLabel(v, step: yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1))</text>\n"
        }
        for e in xTicks where e <= lastEpoch {
            svg += "<line x1=\"\(px(e))\" x2=\"\(px(e))\" y1=\"\(y0)\" y2=\"\(y0 + panelHeight)\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(px(e))\" y=\"\(y0 + panelHeight + 14)\" text-anchor=\"middle\">\(tickLabel(e, step: xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1))</text>\n"
        }
        svg += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(panelWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#999\"/>\n"
        svg += "<text x=\"\(x0 + panelWidth / 2)\" y=\"\(y0 + panelHeight + 30)\" text-anchor=\"middle\">epoch</text>\n"
        var legend = 0
        for series in panel.series {
            let points = series.points.filter { $0.1.isFinite }
            guard !points.isEmpty else { continue }
            if series.width > 0 && points.count > 1 {
                let path = points.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"\(series.width)\" points=\"\(path)\"/>\n"
            }
            if series.markers || points.count == 1 {
                for (e, v) in points { svg += "<circle cx=\"\(px(e))\" cy=\"\(py(v))\" r=\"2.5\" fill=\"\(series.color)\"/>\n" }
            }
            svg += "<text x=\"\(x0 + panelWidth - 4)\" y=\"\(y0 + 14 + Double(legend) * 14)\" text-anchor=\"end\" fill=\"\(series.color)\">\(escape(series.name))</text>\n"
            legend += 1
        }
    }
    return svg + "</svg>\n"
}

/// Tick values at round numbers (1, 2 or 5 times a power of ten) covering [low, high].
public func roundTicks(low: Double, high: Double, count: Int) -> [Double] {
    guard high > low, low.isFinite, high.isFinite else { return [low] }
    let raw = (high - low) / Double(max(count - 1, 1))
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    let first = floor(low / step) * step, last = ceil(high / step) * step
    return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
}

/// A tick's label with as many decimals as its spacing needs.
func tickLabel(_ v: Double, step: Double) -> String {
    let decimals = max(0, Int(-floor(log10(step)).rounded()))
    return String(format: "%.\(min(decimals, 6))f", v)
}

private func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
}
