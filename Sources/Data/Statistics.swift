/// Per-channel mean and standard deviation over a whole dataset, in [0, 255], for `Normalize`
/// (`tricks stats`). Accumulated in Double. An unreadable image is reported once and skipped,
/// as the loader does (`strict`: stops instead).
public func channelStatistics(_ dataset: any Dataset, strict: Bool = false, skips: SkipLog = SkipLog()) throws -> (mean: [Float], std: [Float]) {
    let c = dataset.channels
    var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c), n = 0
    for i in 0..<dataset.count {
        let image: Image
        do { image = try dataset.image(at: i) } catch {
            if strict { throw error }
            skips.record(dataset.source(of: i), error)
            continue
        }
        for (k, v) in image.pixels.enumerated() {
            let value = Double(v)
            sum[k % c] += value
            squares[k % c] += value * value
        }
        n += image.width * image.height
    }
    guard n > 0 else { throw DataError("statistics", "no readable image among \(dataset.count)") }
    let mean = sum.map { $0 / Double(n) }
    let std = zip(squares, mean).map { ($0 / Double(n) - $1 * $1).squareRoot() }
    return (mean.map(Float.init), std.map(Float.init))
}
