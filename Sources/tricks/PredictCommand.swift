import ArgumentParser
import Data
import Foundation
import NN
import Tensors
import Train

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Top-k classes with probabilities for image files and folders (searched recursively for JPEG and PNG).",
        discussion: "An unreadable file is reported and skipped; the rest are predicted, and the exit status is 1 if any failed.")

    @Option(help: "Weights written by `tricks train`, or a state dict with --model.")
    var checkpoint: String

    @OptionGroup var foreign: ForeignWeightsOptions

    @OptionGroup var placement: DeviceOption

    @Option(help: "How many classes to give per image.")
    var topk = 5

    @Option(help: "Also write the predictions (and failures) to this JSON file.")
    var json: String?

    @Option(help: "Also write the predictions to this CSV file (path, rank, class, probability).")
    var csv: String?

    @Argument(help: "JPEG or PNG files, or folders of them.")
    var images: [String]

    struct Prediction: Encodable {
        var path: String
        var classes: [String]
        var probabilities: [Double]
    }

    struct Failure: Encodable {
        var path: String
        var error: String
    }

    struct Report: Encodable {
        var predictions: [Prediction]
        var failures: [Failure]
    }

    func run() throws {
        guard topk >= 1 else { throw CommandError("--topk must be at least 1, got \(topk)") }
        let target = try placement.resolve()
        let (model, info) = try Device.with(target) { try Checkpoint.loadModel(checkpoint, model: foreign.model, classes: foreign.classNames()) }
        let k = min(topk, info.classes.count)
        let precision = try placement.resolvedPrecision(on: target)
        var predictions: [Prediction] = [], failures: [Failure] = []
        for path in try imageInputs(images).map(\.path) {
            do {
                let logProbabilities = try ClassificationTask.predict(model, info: info, path: path, precision: precision)
                let top = try topK(Tensor(shape: [1, logProbabilities.count], scalars: logProbabilities), k: k)[0]
                let prediction = Prediction(path: path, classes: top.map { info.classes[$0] },
                                            probabilities: top.map { (exp(Double(logProbabilities[$0])) * 1e6).rounded() / 1e6 })  // 6 digits: what float32 logits hold
                print(path)
                for (name, p) in zip(prediction.classes, prediction.probabilities) { print(String(format: "  %6.2f%%  %@", 100 * p, name)) }
                predictions.append(prediction)
            } catch {
                FileHandle.standardError.write(Data("skipped \(describe(error, of: path))\n".utf8))
                failures.append(Failure(path: path, error: describe(error, of: path)))
            }
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            // JSONEncoder writes the shortest decimal that reads back as the same number.
            try AtomicFile.write(Array(try encoder.encode(Report(predictions: predictions, failures: failures))), to: json)
        }
        if let csv {
            var text = "path,rank,class,probability\n"
            for p in predictions {
                for (rank, (name, probability)) in zip(p.classes, p.probabilities).enumerated() {
                    text += "\(csvField(p.path)),\(rank + 1),\(csvField(name)),\(String(format: "%.6f", probability))\n"
                }
            }
            try AtomicFile.write(Array(text.utf8), to: csv)
        }
        guard failures.isEmpty else {
            FileHandle.standardError.write(Data("\(failures.count) of \(failures.count + predictions.count) image(s) could not be predicted\n".utf8))
            throw ExitCode(1)
        }
    }

}

/// The files named, and every JPEG or PNG under the folders named, in a stable order: an image
/// to predict is its path, and a name for what is written from it that is unique among
/// the inputs and says where it came from: the path under the folder argument it was found in
/// (`day/0001.png`), or a file argument's own name; a name met twice gets `-2`, `-3`, ...
/// Finding no image at all is an error.
struct ImageInput: Equatable {
    var path: String
    var name: String
}

func imageInputs(_ paths: [String]) throws -> [ImageInput] {
    let extensions: Set<String> = ["jpg", "jpeg", "png"]
    let found = try paths.flatMap { path -> [(String, String)] in
        var isDirectory: ObjCBool = false
        let own = (path as NSString).lastPathComponent
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [(path, own)] }  // reported when read
        guard isDirectory.boolValue else { return [(path, own)] }
        guard let walker = FileManager.default.enumerator(atPath: path) else { throw CommandError("\(path): cannot list the folder") }
        let inside = walker.compactMap { $0 as? String }.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        return inside.map { ((path as NSString).appendingPathComponent($0), $0) }
    }
    guard !found.isEmpty else { throw CommandError("no JPEG or PNG image in \(paths.joined(separator: ", "))") }
    var used: Set<String> = []
    return found.map { path, relative in
        let stem = (relative as NSString).deletingPathExtension
        var name = stem, copy = 1
        while used.contains(name) {
            copy += 1
            name = "\(stem)-\(copy)"
        }
        used.insert(name)
        return ImageInput(path: path, name: name)
    }
}

/// A CSV field, quoted when it holds a comma, quote or newline.
func csvField(_ text: String) -> String {
    guard text.contains(where: { ",\"\n".contains($0) }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
