import Foundation

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
        return FileManager.default.fileExists(atPath: path) ? try TrainConfig.load(path) : nil
    }

    /// Throws, naming each setting, if this config changes anything but `changeableOnResume`
    /// from `saved`.
    public func checkResumable(from saved: TrainConfig) throws {
        let (now, before) = (try settingsDictionary(), try saved.settingsDictionary())
        let changed = Set(now.keys).union(before.keys).subtracting(Self.changeableOnResume).sorted().filter { key in
            !((now[key] as? NSObject)?.isEqual(before[key]) ?? (before[key] == nil))
        }
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

    private func settingsDictionary() throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: JSONEncoder().encode(self)) as? [String: Any]) ?? [:]
    }

    /// The files of an earlier run in `output` (checkpoints, logs), which a new run there would
    /// overwrite or append to.
    public var existingRunFiles: [String] {
        ["last.safetensors", "best.safetensors", "metrics.jsonl", "steps.jsonl"].filter {
            FileManager.default.fileExists(atPath: output + "/" + $0)
        }
    }

    /// Removes an earlier run's checkpoints and logs from `output` (`--overwrite`), so that its
    /// logs do not continue into the new run's.
    public func removeEarlierRun() throws {
        for name in existingRunFiles + ["last.state.safetensors", "best.state.safetensors", "curves.svg", "config.json"] {
            let path = output + "/" + name
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        }
    }
}
