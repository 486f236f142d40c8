import Foundation

/// A COCO-style annotation file (`instances_*.json`: `images`, `annotations` with `bbox` as
/// [x, y, width, height] and `iscrowd`, `categories`) and the folder of its images. The whole file
/// is read and checked when the data set opens: broken JSON, an annotation naming an unknown
/// image or category, a box of no area or outside its image, or a missing image stops the run
/// before it starts, naming the file and the annotation. Categories become labels 1 ... K in the
/// order of their ids (`categoryIDs` maps them back); crowd annotations are kept for evaluation
/// (pycocotools ignores detections on them) and left out of training, as torchvision's reference
/// does. Images without annotations are kept: they train with empty targets.
public struct COCODetection: DetectionDataset {
    public let annotationFile: String
    public let imageFolder: String
    public let classes: [String]
    /// The COCO category id of label k at `categoryIDs[k - 1]`.
    public let categoryIDs: [Int]
    /// The COCO image id of each sample.
    public let imageIDs: [Int]
    public let channels = 3
    let files: [String]
    let objects: [[(box: [Float], label: Int, crowd: Bool)]]

    struct File: Decodable {
        struct ImageEntry: Decodable { var id: Int; var file_name: String; var width: Int?; var height: Int? }
        struct Annotation: Decodable { var id: Int?; var image_id: Int; var category_id: Int; var bbox: [Double]; var iscrowd: Int? }
        struct Category: Decodable { var id: Int; var name: String }
        var images: [ImageEntry]
        var annotations: [Annotation]
        var categories: [Category]
    }

    public init(annotationFile: String, imageFolder: String) throws {
        guard let data = FileManager.default.contents(atPath: annotationFile) else {
            throw DataError(annotationFile, "is missing or unreadable")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch let error as DecodingError {
            throw DataError(annotationFile, "is not a COCO annotation file: \(COCODetection.describe(error))")
        } catch {
            throw DataError(annotationFile, "is not valid JSON: \(error)")
        }
        guard !file.images.isEmpty else { throw DataError(annotationFile, "lists no images") }
        guard !file.categories.isEmpty else { throw DataError(annotationFile, "lists no categories") }
        let categories = file.categories.sorted { $0.id < $1.id }
        var labelOf: [Int: Int] = [:]
        for (k, category) in categories.enumerated() {
            guard labelOf[category.id] == nil else { throw DataError(annotationFile, "category id \(category.id) is listed twice") }
            labelOf[category.id] = k + 1
        }
        var slot: [Int: Int] = [:]
        for (n, image) in file.images.enumerated() {
            guard slot[image.id] == nil else { throw DataError(annotationFile, "image id \(image.id) is listed twice") }
            slot[image.id] = n
            let path = imageFolder + "/" + image.file_name
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError(path, "is missing (image id \(image.id) of \(annotationFile))")
            }
        }
        var objects = [[(box: [Float], label: Int, crowd: Bool)]](repeating: [], count: file.images.count)
        for (n, annotation) in file.annotations.enumerated() {
            let name = "annotation " + (annotation.id.map { "id \($0)" } ?? "#\(n + 1)")
            guard let index = slot[annotation.image_id] else {
                throw DataError(annotationFile, "\(name) names image id \(annotation.image_id), which is not in `images`")
            }
            guard let label = labelOf[annotation.category_id] else {
                throw DataError(annotationFile, "\(name) names category id \(annotation.category_id), which is not in `categories`")
            }
            guard annotation.bbox.count == 4 else {
                throw DataError(annotationFile, "\(name): bbox has \(annotation.bbox.count) numbers, not [x, y, width, height]")
            }
            let b = annotation.bbox.map(Float.init)
            let box = [b[0], b[1], b[0] + b[2], b[1] + b[3]]
            let image = file.images[index]
            try DetectionSample.check(box, object: "\(name) (image \(image.file_name))", source: annotationFile,
                                      width: image.width ?? 1 << 30, height: image.height ?? 1 << 30)
            objects[index].append((box, label, (annotation.iscrowd ?? 0) != 0))
        }
        (self.annotationFile, self.imageFolder, self.objects) = (annotationFile, imageFolder, objects)
        classes = categories.map(\.name)
        categoryIDs = categories.map(\.id)
        imageIDs = file.images.map(\.id)
        files = file.images.map(\.file_name)
    }

    public var count: Int { files.count }
    public func source(of index: Int) -> String { imageFolder + "/" + files[index] }

    public func sample(at index: Int) throws -> DetectionSample {
        let path = source(of: index)
        let image = try ImageCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: path))), path: path, channels: 3)
        for (n, object) in objects[index].enumerated() {
            try DetectionSample.check(object.box, object: "object \(n + 1) of \(annotationFile)", source: path, width: image.width, height: image.height)
        }
        return DetectionSample(image: image, boxes: objects[index].map(\.box), labels: objects[index].map(\.label),
                               difficult: objects[index].map(\.crowd))
    }

    /// "images[3].file_name is missing" from a decoding error.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted(let context): return (context.codingPath.isEmpty ? "" : path(context.codingPath) + ": ") + "not valid JSON"
        @unknown default: return "\(error)"
        }
    }
}
