internal import CImageCodecs
import Foundation

extension ImageCodec {
    /// A segmentation mask from a palette or 8-bit grey PNG: the stored index or level of each
    /// pixel is its label (no colour conversion).
    public static func decodeMask(_ bytes: [UInt8], path: String) throws -> Mask {
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 64)
        guard cimg_png_decode_indices(bytes, bytes.count, &pixels, &width, &height, &message) == 0, let pixels else {
            throw DataError(path, "cannot read as a mask: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        defer { free(pixels) }
        guard width > 0, height > 0 else { throw DataError(path, "zero-size mask") }
        return Mask(width: Int(width), height: Int(height), labels: Array(UnsafeBufferPointer(start: pixels, count: Int(width) * Int(height))))
    }

    /// `mask` as an 8-bit palette PNG with `palette` (256 RGB triples; default Pascal VOC's), so
    /// that it shows in colour and reads back with `decodeMask` as the same labels.
    public static func encodeMask(_ mask: Mask, palette: [UInt8] = Mask.vocPalette) throws -> [UInt8] {
        precondition(palette.count == 768, "a palette is 256 RGB triples")
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 64)
        guard cimg_png_encode_palette(mask.labels, Int32(mask.width), Int32(mask.height), palette, &out, &size, &message) == 0, let out else {
            throw DataError("png", String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

extension Mask {
    /// Pascal VOC's colour map: label i's colour spreads i's bits over R, G and B from the top
    /// bit down (0 black, 1 dark red, 2 dark green, ..., 255 the border colour).
    public static let vocPalette: [UInt8] = (0..<256).flatMap { label -> [UInt8] in
        var (r, g, b, c) = (0, 0, 0, label)
        for shift in stride(from: 7, through: 0, by: -1) {
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        }
        return [UInt8(r), UInt8(g), UInt8(b)]
    }
}
