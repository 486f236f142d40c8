import Tensors

extension Module {
    /// Parameters, buffers and counters under PyTorch's keys, as safetensors entries
    /// (Float32 in PyTorch's plain layouts; counters as int64 scalars).
    public func stateDict() throws -> [(String, SafeTensors.Entry)] {
        var entries: [(String, SafeTensors.Entry)] = []
        for (name, tensor) in namedParameters() + namedBuffers() {
            entries.append((name, SafeTensors.Entry(floats: try tensor.scalars, shape: tensor.shape)))
        }
        for (name, value) in namedCounters() { entries.append((name, SafeTensors.Entry(int64: value))) }
        return entries
    }

    /// Loads a state dict. Strict: a missing key, an unexpected key or a wrong shape is an
    /// error naming the key(s), except that counters (BatchNorm's `num_batches_tracked`) may be
    /// absent, as in torchvision's published weights and many converted files: they then keep
    /// their value. F16, BF16 and F64 values are converted to Float32.
    /// Keys starting with one of `excluding` (e.g. a classifier head being replaced) are
    /// neither required nor loaded.
    public func loadStateDict(_ entries: [String: SafeTensors.Entry], source: String = "state dict", excluding: [String] = []) throws {
        func kept(_ key: String) -> Bool { !excluding.contains { key.hasPrefix($0) } }
        let entries = entries.filter { kept($0.key) }
        let tensors = (namedParameters() + namedBuffers()).filter { kept($0.0) }
        let counterModules = namedModules().flatMap { path, module in
            module.counters.map { (path.isEmpty ? $0.0 : path + "." + $0.0, module, $0.0) }
        }.filter { kept($0.0) }
        let expected = Set(tensors.map(\.0) + counterModules.map(\.0))
        let missing = expected.subtracting(entries.keys).subtracting(counterModules.map(\.0)).sorted()
        let unexpected = Set(entries.keys).subtracting(expected).sorted()
        guard missing.isEmpty && unexpected.isEmpty else {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: " + missing.prefix(10).joined(separator: ", ") + (missing.count > 10 ? " and \(missing.count - 10) more" : "")) }
            if !unexpected.isEmpty { parts.append("unexpected keys: " + unexpected.prefix(10).joined(separator: ", ") + (unexpected.count > 10 ? " and \(unexpected.count - 10) more" : "")) }
            throw OpError(op: "load_state_dict", "\(source) does not match the model (\(parts.joined(separator: "; ")))")
        }
        for (name, tensor) in tensors {
            let entry = entries[name]!
            guard entry.shape == tensor.shape else {
                throw OpError(op: "load_state_dict", "\(source): \(name) has shape \(entry.shape) in the file but \(tensor.shape) in the model")
            }
        }
        for (name, tensor) in tensors { try tensor.assign(entries[name]!.floats()) }
        for (name, module, local) in counterModules { if let entry = entries[name] { module.setCounter(local, to: try entry.int()) } }
    }

    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(stateDict(), metadata: metadata, to: path)
    }

    public func load(from path: String) throws {
        try loadStateDict(SafeTensors.read(path).entries, source: path)
    }
}
