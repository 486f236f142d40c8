import Foundation

/// Training curves as one SVG: loss (train and validation), validation top-1, and the
/// learning rate, each against epochs. Plain SVG, so any browser shows it.
public func trainingCurvesSVG(_ history: [EpochRecord], title: String) -> String {
    let epochs = history.map { Double($0.epoch + 1) }
    let panels: [(String, [(String, String, [Double])])] = [
        ("loss", [("train", "#1f77b4", history.map(\.trainLoss)), ("validation", "#d62728", history.map(\.valLoss))]),
        ("validation top-1 (%)", [("top-1", "#2ca02c", history.map(\.top1))]),
        ("learning rate (end of epoch)", [("lr", "#9467bd", history.map(\.lr))]),
    ]
    let (panelWidth, panelHeight, margin) = (300.0, 220.0, 45.0)
    var svg = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(3 * (panelWidth + margin) + margin))" height="\(Int(panelHeight + 2 * margin + 20))" font-family="sans-serif" font-size="11">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(margin)" y="18" font-size="14">\(escape(title))</text>\n
    """
    for (index, (name, series)) in panels.enumerated() {
        let x0 = margin + Double(index) * (panelWidth + margin), y0 = margin + 10
        let values = series.flatMap(\.2).filter(\.isFinite)
        var (low, high) = (values.min() ?? 0, values.max() ?? 1)
        if high - low < 1e-12 { (low, high) = (low - 0.5 * max(abs(low), 1e-3), high + 0.5 * max(abs(high), 1e-3)) }
        let (firstEpoch, lastEpoch) = (epochs.first ?? 1, max(epochs.last ?? 1, (epochs.first ?? 1) + 1))
        func px(_ e: Double) -> Double { x0 + (e - firstEpoch) / (lastEpoch - firstEpoch) * panelWidth }
        func py(_ v: Double) -> Double { y0 + panelHeight - (v - low) / (high - low) * panelHeight }
        svg += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(panelWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#999\"/>\n"
        svg += "<text x=\"\(x0)\" y=\"\(y0 - 6)\">\(escape(name))</text>\n"
        for t in 0...4 {
            let v = low + (high - low) * Double(t) / 4
            svg += "<text x=\"\(x0 - 4)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(label(v))</text>\n"
        }
        svg += "<text x=\"\(x0 + panelWidth / 2)\" y=\"\(y0 + panelHeight + 28)\" text-anchor=\"middle\">epoch</text>\n"
        for e in Set(epochs.map { Int($0) }).sorted() where epochs.count <= 30 || e % 5 == 0 {
            svg += "<text x=\"\(px(Double(e)))\" y=\"\(y0 + panelHeight + 14)\" text-anchor=\"middle\">\(e)</text>\n"
        }
        for (legend, (seriesName, color, ys)) in series.enumerated() {
            let points = zip(epochs, ys).filter { $0.1.isFinite }.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>\n"
            for (e, v) in zip(epochs, ys) where v.isFinite { svg += "<circle cx=\"\(px(e))\" cy=\"\(py(v))\" r=\"2.5\" fill=\"\(color)\"/>\n" }
            svg += "<text x=\"\(x0 + panelWidth - 4)\" y=\"\(y0 + 14 + Double(legend) * 14)\" text-anchor=\"end\" fill=\"\(color)\">\(seriesName)</text>\n"
        }
    }
    return svg + "</svg>\n"
}

private func label(_ v: Double) -> String {
    abs(v) >= 100 ? String(format: "%.0f", v) : abs(v) >= 1 ? String(format: "%.2f", v) : String(format: "%.3g", v)
}

private func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
}
