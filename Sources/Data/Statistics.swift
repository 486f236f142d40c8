/// Per-channel mean and standard deviation over a whole dataset, in [0, 255], for `Normalize`
/// (`tricks stats`). Accumulated in Double.
public func channelStatistics(_ dataset: any Dataset) throws -> (mean: [Float], std: [Float]) {
    let c = dataset.channels
    var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c), n = 0
    for i in 0..<dataset.count {
        let image = try dataset.image(at: i)
        for (k, v) in image.pixels.enumerated() {
            let value = Double(v)
            sum[k % c] += value
            squares[k % c] += value * value
        }
        n += image.width * image.height
    }
    let mean = sum.map { $0 / Double(n) }
    let std = zip(squares, mean).map { ($0 / Double(n) - $1 * $1).squareRoot() }
    return (mean.map(Float.init), std.map(Float.init))
}
