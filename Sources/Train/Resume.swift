import Foundation
import NN

/// What `--resume` may change: a resumed run continues with the settings it was started with
/// (its `config.json`), so that `tricks train --output DIR --resume` needs no other flag.
extension TrainConfig {
    /// How long and where the run goes on, not what it trains: these may differ on resume.
    /// (The precision and device too: checkpoints are Float32 whichever ran; the process count is
    /// checked against the checkpoint, with its own message.)
    public static let changeableOnResume: Set<String> = ["epochs", "logEvery", "workers", "threads", "strict", "precision", "device",
                                                         "output", "worldSize", "bucketMB"]

    /// The settings a run in `folder` was started with, if it wrote them.
    public static func savedRun(in folder: String) throws -> TrainConfig? {
        let path = folder + "/config.json"
        return FileManager.default.fileExists(atPath: path) ? try TrainConfig.load(path, writtenByARun: true) : nil
    }

    /// Throws, naming each setting, if this config changes anything but `changeableOnResume`
    /// from `saved`.
    public func checkResumable(from saved: TrainConfig) throws {
        let (now, before) = (try settingsDictionary(self), try settingsDictionary(saved))
        let changed = changedSettings(now, before, ignoring: Self.changeableOnResume)
        guard !changed.isEmpty else { return }
        func show(_ value: Any?) -> String {
            guard let value, let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { return "(unset)" }
            return String(decoding: data, as: UTF8.self)
        }
        throw TrainError("--resume", "continues \(output) with the settings it was started with (its config.json), but these differ: "
                         + changed.map { "\($0) \(show(before[$0])) -> \(show(now[$0]))" }.joined(separator: ", ")
                         + ". On resume only " + Self.changeableOnResume.sorted().joined(separator: ", ")
                         + " may change; for anything else start a new run (another --output, or --overwrite)")
    }
}

/// A settings value (a config) as its JSON object, keyed by setting.
func settingsDictionary(_ settings: some Encodable) throws -> [String: Any] {
    (try JSONSerialization.jsonObject(with: JSONEncoder().encode(settings)) as? [String: Any]) ?? [:]
}

/// The settings whose values differ between two JSON objects of settings, but for `ignoring`, sorted.
func changedSettings(_ now: [String: Any], _ before: [String: Any], ignoring: Set<String>) -> [String] {
    Set(now.keys).union(before.keys).subtracting(ignoring).sorted().filter { key in
        !((now[key] as? NSObject)?.isEqual(before[key]) ?? (before[key] == nil))
    }
}

/// The files of an earlier run (classification or segmentation) in `folder`: checkpoints and
/// logs that a new run there would overwrite or append to.
public func earlierRunFiles(in folder: String) -> [String] {
    ["last.safetensors", "best.safetensors", "metrics.jsonl", "steps.jsonl"].filter {
        FileManager.default.fileExists(atPath: folder + "/" + $0)
    }
}

/// Removes an earlier run's checkpoints, logs and settings from `folder` (`--overwrite`).
public func removeEarlierRun(in folder: String) throws {
    for name in earlierRunFiles(in: folder) + ["last.state.safetensors", "best.state.safetensors", "curves.svg", "config.json"] {
        let path = folder + "/" + name
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }
}

/// `value` as one line of a JSON-lines log (sorted keys, newline-terminated).
func jsonLine(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}

/// Appends `value` as one JSON line (sorted keys) to the log at `path`, creating it.
func appendJSONLine(_ value: some Encodable, to path: String) throws {
    let line = try jsonLine(value)
    if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
    guard let handle = FileHandle(forWritingAtPath: path) else { throw TrainError(path, "cannot append to the log") }
    defer { try? handle.close() }
    handle.seekToEndOfFile()
    handle.write(Data(line.utf8))
}

/// Makes the logs in `folder` agree with the checkpoint a run resumes from, which is the record:
/// `metrics.jsonl` is rewritten from the checkpoint's history, and `steps.jsonl` keeps only the
/// iterations the checkpoint had reached. A process killed without Ctrl-C (a reboot, a lost
/// session) has logged steps past its last checkpoint that the resumed run logs again, and one
/// killed between the checkpoint's rename and the epoch's line has lost that line. Returns what
/// it changed, for the log; nothing when the logs already agreed.
func reconcileLogs<Metrics>(in folder: String, history: [EpochResult<Metrics>], iteration: Int) throws -> [String] {
    var changes: [String] = []
    let metricsPath = folder + "/metrics.jsonl"
    let metrics = try history.map(jsonLine).joined()
    let before = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
    if metrics != before {
        try AtomicFile.write(Array(metrics.utf8), to: metricsPath)
        let count = before.split(separator: "\n").count
        changes.append("metrics.jsonl rewritten from the checkpoint: \(history.count) epoch(s), it had \(count) line(s)")
    }
    let stepsPath = folder + "/steps.jsonl"
    if let steps = try? String(contentsOfFile: stepsPath, encoding: .utf8) {
        let lines = steps.split(separator: "\n", omittingEmptySubsequences: true)
        let kept = lines.filter { (StepPoint(line: $0)?.iteration ?? 0) <= iteration }
        if kept.count < lines.count {
            try AtomicFile.write(Array(kept.map { $0 + "\n" }.joined().utf8), to: stepsPath)
            changes.append("steps.jsonl: dropped \(lines.count - kept.count) line(s) logged after the checkpoint (iteration \(iteration))")
        }
    }
    return changes
}
