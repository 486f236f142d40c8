internal import CImageCodecs
import Foundation

/// JPEG (libjpeg-turbo's TurboJPEG API) and PNG (libpng) decoding and encoding.
public enum ImageCodec {
    public enum Format: Sendable { case jpeg, png }

    /// The format by its magic bytes, or nil.
    public static func format(of bytes: [UInt8]) -> Format? {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
        return nil
    }

    /// Decodes to `channels` (1: grey, 3: RGB). For JPEG, when `minShortSide` is given, uses
    /// libjpeg-turbo's scaled decoding (1/2, 1/4, 1/8) to the smallest size whose shorter side
    /// is still at least `minShortSide`: much faster for large photos cropped to 224.
    public static func decode(_ bytes: [UInt8], path: String, channels: Int, minShortSide: Int? = nil) throws -> Image {
        guard !bytes.isEmpty else { throw DataError(path, "file is empty") }
        switch format(of: bytes) {
        case .jpeg: return try decodeJPEG(bytes, path: path, channels: channels, minShortSide: minShortSide)
        case .png: return try decodePNG(bytes, path: path, channels: channels)
        case nil: throw DataError(path, "not a JPEG or PNG file")
        }
    }

    static func decodeJPEG(_ bytes: [UInt8], path: String, channels: Int, minShortSide: Int?) throws -> Image {
        guard let handle = tjInitDecompress() else { throw DataError(path, "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        func failure(_ what: String) -> DataError {
            DataError(path, "\(what): \(String(cString: tjGetErrorStr2(handle)))")
        }
        guard tjDecompressHeader3(handle, bytes, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
            throw failure("corrupt JPEG header")
        }
        guard width > 0, height > 0 else { throw DataError(path, "zero-size image") }
        var (w, h) = (Int(width), Int(height))
        if let minShortSide {
            var count: Int32 = 0
            if let factors = tjGetScalingFactors(&count) {
                for i in 0..<Int(count) {
                    let f = factors[i]
                    guard f.num < f.denom else { continue }
                    let sw = (Int(width) * Int(f.num) + Int(f.denom) - 1) / Int(f.denom)
                    let sh = (Int(height) * Int(f.num) + Int(f.denom) - 1) / Int(f.denom)
                    if min(sw, sh) >= minShortSide && sw * sh < w * h { (w, h) = (sw, sh) }
                }
            }
        }
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
        let status = tjDecompress2(handle, bytes, UInt(bytes.count), &pixels, Int32(w), 0, Int32(h), format.rawValue, TJFLAG_ACCURATEDCT)
        // A truncated file decodes with a warning and grey rows: treat every problem as corruption.
        guard status == 0 else { throw failure("corrupt or truncated JPEG") }
        return Image(width: w, height: h, channels: channels, bytes: pixels)
    }

    static func decodePNG(_ bytes: [UInt8], path: String, channels: Int) throws -> Image {
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 64)
        let status = cimg_png_decode(bytes, bytes.count, Int32(channels), &pixels, &width, &height, &message)
        guard status == 0, let pixels else {
            throw DataError(path, "corrupt or truncated PNG: \(String(cString: message))")
        }
        defer { free(pixels) }
        guard width > 0, height > 0 else { throw DataError(path, "zero-size image") }
        let count = Int(width) * Int(height) * channels
        return Image(width: Int(width), height: Int(height), channels: channels, bytes: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    public static func encodeJPEG(_ image: Image, quality: Int = 95) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw DataError("jpeg", "cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let format = image.channels == 1 ? TJPF_GRAY : TJPF_RGB
        let subsampling = image.channels == 1 ? TJSAMP_GRAY : TJSAMP_444
        let status = tjCompress2(handle, image.bytes, Int32(image.width), 0, Int32(image.height), Int32(format.rawValue), &out, &size,
                                 Int32(subsampling.rawValue), Int32(quality), 0)
        guard status == 0, let out else { throw DataError("jpeg", String(cString: tjGetErrorStr2(handle))) }
        defer { tjFree(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    public static func encodePNG(_ image: Image) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 64)
        guard cimg_png_encode(image.bytes, Int32(image.width), Int32(image.height), Int32(image.channels), &out, &size, &message) == 0,
              let out else { throw DataError("png", String(cString: message)) }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

/// Reads a whole file, transparently gunzipping `.gz` files (zlib reads plain files as they are).
func readFile(_ path: String, gunzip: Bool = false) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else { throw DataError(path, "no such file") }
    guard gunzip else {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot read file") }
        return Array(data)
    }
    guard let file = gzopen(path, "rb") else { throw DataError(path, "cannot open file") }
    defer { gzclose(file) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = gzread(file, &chunk, UInt32(chunk.count))
        if n < 0 { throw DataError(path, "corrupt gzip data") }
        if n == 0 { break }
        result += chunk[0..<Int(n)]
    }
    return result
}
