import Foundation

/// One subfolder per class (class names sorted), JPEG and PNG files inside, any size, grey or
/// colour; other files are ignored. Images decode on demand to `channels` (3: RGB, grey images
/// repeated; 1: grey, colour converted).
public struct ImageFolder: Dataset {
    public let root: String
    public let classes: [String]
    public let channels: Int
    /// Decode JPEGs at reduced scale down to this shorter side (see `ImageCodec.decode`).
    public let minShortSide: Int?
    let files: [String]
    let labels: [Int]
    static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public init(root: String, channels: Int = 3, minShortSide: Int? = nil) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else { throw DataError(root, "no such folder") }
        guard isDirectory.boolValue else { throw DataError(root, "is a file, not a folder of class folders") }
        let fm = FileManager.default
        let classes = try fm.contentsOfDirectory(atPath: root).filter { name in
            var dir: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: root + "/" + name, isDirectory: &dir) && dir.boolValue
        }.sorted()
        // A bad file (empty, truncated, not an image) is found when it is read: the loader
        // reports it once and skips it, or stops there with --strict.
        var files: [String] = [], labels: [Int] = []
        for (label, name) in classes.enumerated() {
            let folder = root + "/" + name
            guard let enumerator = fm.enumerator(atPath: folder) else { continue }
            var found: [String] = []
            for case let relative as String in enumerator where ImageFolder.extensions.contains((relative as NSString).pathExtension.lowercased()) {
                found.append(folder + "/" + relative)
            }
            files += found.sorted()
            labels += Array(repeating: label, count: found.count)
        }
        guard !classes.isEmpty else { throw DataError(root, "has no class subfolders (expected one folder per class)") }
        guard classes.count >= 2 else { throw DataError(root, "has only one class folder (\(classes[0])); classification needs at least two") }
        guard !files.isEmpty else { throw DataError(root, "the class folders hold no .jpg, .jpeg or .png files") }
        (self.root, self.classes, self.channels, self.minShortSide) = (root, classes, channels, minShortSide)
        (self.files, self.labels) = (files, labels)
    }

    public var count: Int { files.count }
    public func label(at index: Int) -> Int { labels[index] }
    public func source(of index: Int) -> String { files[index] }

    public func image(at index: Int) throws -> Image {
        let path = files[index]
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot read file") }
        guard !data.isEmpty else { throw DataError(path, "empty file") }
        return try ImageCodec.decode(Array(data), path: path, channels: channels, minShortSide: minShortSide)
    }
}
