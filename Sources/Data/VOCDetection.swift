import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Pascal VOC's detection layout: `Annotations/<id>.xml`, `JPEGImages/<id>.jpg` and
/// `ImageSets/Main/<split>.txt` (train, val, trainval, test) under `root` (a `VOC2007` folder,
/// or a `VOCdevkit` holding one). Every annotation of the split is read and checked when the data
/// set opens, so a broken file, a box of no area or outside its image, or a missing image stops
/// the run before it starts, naming the file and the object. VOC's 1-based inclusive pixel
/// coordinates become pixel edges: x1 = xmin - 1, x2 = xmax. `difficult` objects are kept for
/// evaluation (neither true nor false positives) and left out of training.
/// Classes: VOC's 20 in their usual order when every name is one of them, else the sorted names
/// found in all of `Annotations/` (so that every split of a custom data set numbers them alike).
public struct VOCDetection: DetectionDataset {
    public static let vocClasses = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
                                    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
    public let root: String
    public let split: String
    public let classes: [String]
    public let channels = 3
    let ids: [String]
    let objects: [[VOCObject]]

    struct VOCObject: Sendable {
        var name: String
        var box: [Float]
        var difficult: Bool
    }

    public init(root: String, split: String) throws {
        let root = FileManager.default.fileExists(atPath: root + "/VOC2007/Annotations") ? root + "/VOC2007" : root
        let list = "\(root)/ImageSets/Main/\(split).txt"
        guard let text = try? String(contentsOfFile: list, encoding: .utf8) else {
            throw DataError(list, "cannot be read: a VOC folder has ImageSets/Main/\(split).txt listing the split's image ids")
        }
        let ids = text.split(whereSeparator: \.isNewline).map { $0.split(separator: " ")[0] }.map(String.init).filter { !$0.isEmpty }
        guard !ids.isEmpty else { throw DataError(list, "lists no images") }
        var objects: [[VOCObject]] = []
        for id in ids {
            let image = "\(root)/JPEGImages/\(id).jpg"
            guard FileManager.default.fileExists(atPath: image) else { throw DataError(image, "is missing (listed in \(list))") }
            objects.append(try VOCDetection.read("\(root)/Annotations/\(id).xml"))
        }
        var names = Set(objects.joined().map(\.name))
        if !names.isSubset(of: VOCDetection.vocClasses) {
            let folder = root + "/Annotations"
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for file in files where file.hasSuffix(".xml") { names.formUnion(try VOCDetection.read(folder + "/" + file).map(\.name)) }
        }
        (self.root, self.split, self.ids, self.objects) = (root, split, ids, objects)
        classes = names.isSubset(of: VOCDetection.vocClasses) ? VOCDetection.vocClasses : names.sorted()
    }

    public var count: Int { ids.count }
    public func source(of index: Int) -> String { "\(root)/JPEGImages/\(ids[index]).jpg" }

    public func sample(at index: Int) throws -> DetectionSample {
        let path = source(of: index)
        let image = try ImageCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: path))), path: path, channels: 3)
        let found = objects[index]
        for (n, object) in found.enumerated() {
            try DetectionSample.check(object.box, object: "object \(n + 1) (\(object.name)) of \(root)/Annotations/\(ids[index]).xml",
                                      source: path, width: image.width, height: image.height)
        }
        return DetectionSample(image: image, boxes: found.map(\.box), labels: found.map { classes.firstIndex(of: $0.name)! + 1 },
                               difficult: found.map(\.difficult))
    }

    /// The objects of one annotation file, each box checked for area and against `<size>`.
    static func read(_ path: String) throws -> [VOCObject] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(path, "is missing or unreadable") }
        let collector = ElementCollector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        guard parser.parse(), parser.parserError == nil else {
            throw DataError(path, "is not well-formed XML (line \(parser.lineNumber), column \(parser.columnNumber))")
        }
        let size = (Int(collector.value("annotation/size/width") ?? ""), Int(collector.value("annotation/size/height") ?? ""))
        var objects: [VOCObject] = []
        for (n, object) in collector.objects.enumerated() {
            let label = "object \(n + 1)" + (object["name"].map { " (\($0))" } ?? "")
            guard let name = object["name"]?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty else {
                throw DataError(path, "\(label) has no <name>")
            }
            var box: [Float] = []
            for key in ["xmin", "ymin", "xmax", "ymax"] {
                guard let text = object["bndbox/" + key], let value = Float(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw DataError(path, "\(label): <bndbox><\(key)> is missing or not a number")
                }
                box.append(value)
            }
            box[0] -= 1
            box[1] -= 1
            // Without a <size> only the area is checked here; the image's own size is checked when it is read.
            let (width, height) = (size.0 ?? 0 > 0 ? size.0! : 1 << 30, size.1 ?? 0 > 0 ? size.1! : 1 << 30)
            try DetectionSample.check(box, object: label, source: path, width: width, height: height)
            let difficult = object["difficult"].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "1" } ?? false
            objects.append(VOCObject(name: name, box: box, difficult: difficult))
        }
        return objects
    }
}

/// Collects the text of every element by its path ("annotation/size/width"), and each
/// `<object>`'s elements by their path inside it ("name", "bndbox/xmin").
private final class ElementCollector: NSObject, XMLParserDelegate {
    var path: [String] = []
    var text = ""
    var values: [String: String] = [:]
    var objects: [[String: String]] = []

    func value(_ key: String) -> String? { values[key] }

    func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        path.append(element)
        text = ""
        if path == ["annotation", "object"] { objects.append([:]) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        if path.count > 2, path[0] == "annotation", path[1] == "object", !objects.isEmpty {
            objects[objects.count - 1][path[2...].joined(separator: "/")] = text
        } else {
            values[path.joined(separator: "/")] = text
        }
        path.removeLast()
        text = ""
    }
}
