import Tensors

extension Module {
    /// Throws, naming the module and the property, if any module below this one holds a
    /// submodule or tensor in a stored property (directly, in an optional, an array or a
    /// tuple) that its `children`, `parameters` or `buffers` do not list. Such state would be
    /// silently missed by the optimiser, `initialize`, zero-gamma, checkpoints and
    /// `train()`/`eval()`. `ModelZoo.make` runs this on every model it builds.
    public func checkStateIsRegistered() throws {
        let listedModules = Set(namedModules().map { ObjectIdentifier($0.1) })
        let listedTensors = Set((namedParameters() + namedBuffers()).map { ObjectIdentifier($0.1) })
        for (path, module) in namedModules() {
            var mirror: Mirror? = Mirror(reflecting: module)
            while let current = mirror {
                for case let (label?, value) in current.children {
                    for item in Module.heldObjects(value) {
                        let missed: String? = switch item {
                        case let m as Module where !listedModules.contains(ObjectIdentifier(m)): "module \(type(of: m))"
                        case let t as Tensor where !listedTensors.contains(ObjectIdentifier(t)): "tensor of shape \(t.shape)"
                        default: nil
                        }
                        if let missed {
                            throw OpError(op: "model", "\(type(of: module)) at '\(path.isEmpty ? "(root)" : path)' holds \(missed) in '\(label)', "
                                          + "which its children, parameters or buffers do not list: the optimiser and checkpoints would miss it")
                        }
                    }
                }
                mirror = current.superclassMirror
            }
        }
    }

    /// The modules and tensors in a stored value: itself, or inside an optional, array or tuple.
    private static func heldObjects(_ value: Any, depth: Int = 0) -> [AnyObject] {
        if let object = value as? Module { return [object] }
        if let object = value as? Tensor { return [object] }
        let mirror = Mirror(reflecting: value)
        guard depth < 3, [.optional, .collection, .tuple].contains(mirror.displayStyle) else { return [] }
        return mirror.children.flatMap { heldObjects($0.value, depth: depth + 1) }
    }
}
