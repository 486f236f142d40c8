/// What data-parallel training needs from a group of processes: sums across all of them and
/// a broadcast from one. Implemented over MPI by the `Distributed` target; `SingleProcess` is
/// the group of one (every operation leaves the values as they are).
public protocol Collective: AnyObject, Sendable {
    /// This process's index, 0..<size; rank 0 writes checkpoints and logs.
    var rank: Int { get }
    var size: Int { get }
    /// Replaces `values` with their element-wise sum over all processes.
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws
    /// Replaces `bytes` on every process with rank `root`'s.
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
}

extension Collective {
    public func allreduceSum(_ values: [Double]) throws -> [Double] {
        var result = values
        try result.withUnsafeMutableBufferPointer { try allreduceSum($0) }
        return result
    }

    public func allreduceSum(_ values: [Float]) throws -> [Float] {
        var result = values
        try result.withUnsafeMutableBufferPointer { try allreduceSum($0) }
        return result
    }

    /// Rank `root`'s byte string on every process (the length is broadcast first).
    public func broadcast(_ bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        var length = [Int64(bytes.count)]
        try length.withUnsafeMutableBytes { try broadcast($0, root: root) }
        var result = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
        try result.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return result
    }
}

/// The group of one process: what a run without MPI uses.
public final class SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {}
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
}
