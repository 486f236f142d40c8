/// A decoded image: `channels` (1 or 3) interleaved Float32 values per pixel, row by row
/// (HWC), in [0, 255] until `Normalize` runs, as the paper's pipeline starts.
public struct Image: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [Float]

    public init(width: Int, height: Int, channels: Int, pixels: [Float]) {
        precondition(pixels.count == width * height * channels, "pixel count \(pixels.count) for \(width)x\(height)x\(channels)")
        (self.width, self.height, self.channels, self.pixels) = (width, height, channels, pixels)
    }

    public init(width: Int, height: Int, channels: Int, bytes: [UInt8]) {
        self.init(width: width, height: height, channels: channels, pixels: bytes.map(Float.init))
    }

    public subscript(x: Int, y: Int, c: Int) -> Float {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }

    /// Pixels rounded and clamped to bytes, for encoding.
    public var bytes: [UInt8] { pixels.map { UInt8(max(0, min(255, $0.rounded()))) } }
}

/// A data problem, naming the file (or flag) it concerns.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String
    public init(_ path: String, _ message: String) { (self.path, self.message) = (path, message) }
    public var description: String { "\(path): \(message)" }
}

/// "path: reason" for a file that failed, without the path twice where the error names it
/// already (a `DataError` is "path: reason").
public func describe(_ error: Error, of path: String) -> String {
    let message = "\(error)"
    return message.hasPrefix(path) ? message : path + ": " + message
}
