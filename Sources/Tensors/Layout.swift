/// How a backend lays a tensor's elements out in memory. Only the backend that made a layout
/// reads inside it (oneDNN's blocked nChw8c/nChw16c; a GPU's NHWC later); the backend-neutral
/// code asks only what is below.
package protocol Layout: Sendable, CustomStringConvertible {
    var dims: [Int] { get }
    var dataType: DataType { get }
    /// Row-major with no blocking and no padding: PyTorch's contiguous layout.
    var isPlain: Bool { get }
    /// Bytes of storage the layout needs, padding included.
    var byteCount: Int { get }
    /// Whether some of those bytes are padding that must hold zeros.
    var isPadded: Bool { get }
    /// The same arrangement with another element type.
    func with(dataType: DataType) -> any Layout
    func isEqual(to other: any Layout) -> Bool
}

extension Layout where Self: Equatable {
    package func isEqual(to other: any Layout) -> Bool { (other as? Self) == self }
}

/// Row-major elements with nothing else: the layout of the reference backend, and what every
/// backend can read and write from the host.
package struct PlainLayout: Layout, Hashable {
    package let dims: [Int]
    package let dataType: DataType

    package init(_ dims: [Int], dataType: DataType = .float32) {
        self.dims = dims
        self.dataType = dataType
    }

    package var isPlain: Bool { true }
    package var isPadded: Bool { false }
    package var byteCount: Int { dims.reduce(1, *) * dataType.byteCount }
    package func with(dataType: DataType) -> any Layout { PlainLayout(dims, dataType: dataType) }
    package var description: String { "\(dims) \(dataType) plain" }
}
