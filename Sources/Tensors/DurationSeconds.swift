extension Duration {
    /// The duration in seconds, for rates (images/s, GFLOP/s) in the trainer and benchmarks.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
