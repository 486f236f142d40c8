import Tensors
import Foundation

/// The safetensors file format (Hugging Face), what PyTorch users save state dicts in:
/// an 8-byte little-endian header length, a JSON header mapping each name to its dtype, shape
/// and byte range, then the raw little-endian data.
public enum SafeTensors {
    public struct Entry: Equatable, Sendable {
        /// "F32", "F16", "BF16" or "I64".
        public var dtype: String
        public var shape: [Int]
        public var bytes: [UInt8]

        public init(dtype: String, shape: [Int], bytes: [UInt8]) {
            (self.dtype, self.shape, self.bytes) = (dtype, shape, bytes)
        }

        public init(floats: [Float], shape: [Int]) {
            self.init(dtype: "F32", shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
        }

        public init(int64 value: Int) {
            self.init(dtype: "I64", shape: [], bytes: withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) })
        }

        static let elementSizes = ["F32": 4, "F16": 2, "BF16": 2, "I64": 8, "F64": 8, "I32": 4, "U8": 1]

        /// The values as Float32 (from F32, F16, BF16, F64 or an integer type).
        public func floats() throws -> [Float] {
            try bytes.withUnsafeBytes { raw -> [Float] in
                switch dtype {
                case "F32": return Array(raw.bindMemory(to: Float.self))
                case "F16": return raw.bindMemory(to: Float16.self).map(Float.init)
                case "BF16": return raw.bindMemory(to: UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
                case "F64": return raw.bindMemory(to: Double.self).map(Float.init)
                case "I64": return raw.bindMemory(to: Int64.self).map(Float.init)
                default: throw OpError(op: "safetensors", "cannot read dtype \(dtype) as floats")
                }
            }
        }

        public func int() throws -> Int {
            guard dtype == "I64", bytes.count == 8 else { throw OpError(op: "safetensors", "expected one I64 value, got \(dtype) \(shape)") }
            return Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
        }
    }

    /// Serialises `entries` (in the order given) with optional string metadata.
    public static func encode(_ entries: [(String, Entry)], metadata: [String: String] = [:]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, entry) in entries {
            header[name] = ["dtype": entry.dtype, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count]]
            offset += entry.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
        out.reserveCapacity(out.count + offset)
        for (_, entry) in entries { out += entry.bytes }
        return out
    }

    /// Parses a file's bytes; `source` names the file in errors.
    public static func decode(_ bytes: [UInt8], source: String) throws -> (entries: [String: Entry], metadata: [String: String]) {
        func fail(_ why: String) -> OpError { OpError(op: "safetensors", "\(source): \(why)") }
        guard bytes.count >= 8 else { throw fail("file is \(bytes.count) bytes, too short for a header") }
        let headerLength = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        guard headerLength <= bytes.count - 8 else { throw fail("header length \(headerLength) runs past the end of the file") }
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8 ..< 8 + headerLength])) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("malformed entry for \(name)")
            }
            guard let size = Entry.elementSizes[dtype] else { throw fail("\(name) has unsupported dtype \(dtype)") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, dataStart + end <= bytes.count, end - begin == shape.reduce(1, *) * size else {
                throw fail("\(name): byte range \(offsets) does not hold \(dtype) \(shape) within the file")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, bytes: Array(bytes[dataStart + begin ..< dataStart + end]))
        }
        return (entries, metadata)
    }

    public static func read(_ path: String) throws -> (entries: [String: Entry], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OpError(op: "safetensors", "cannot read \(path) (missing or unreadable)")
        }
        return try decode(Array(data), source: path)
    }

    public static func write(_ entries: [(String, Entry)], metadata: [String: String] = [:], to path: String) throws {
        try AtomicFile.write(encode(entries, metadata: metadata), to: path)
    }
}

/// Writes a file so that a crash leaves either the old file or the new one, never a torn one:
/// a temporary file beside it, fsync, rename over the target, fsync of the folder.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw OpError(op: "write", "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let error = String(cString: strerror(errno))
        close(fd)
        guard ok else {
            unlink(temporary)
            throw OpError(op: "write", "writing \(temporary) failed after \(written) of \(bytes.count) bytes: \(error)")
        }
        guard rename(temporary, path) == 0 else {
            let error = String(cString: strerror(errno))
            unlink(temporary)
            throw OpError(op: "write", "cannot move \(temporary) to \(path): \(error)")
        }
        let folder = (path as NSString).deletingLastPathComponent
        let dfd = open(folder.isEmpty ? "." : folder, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
