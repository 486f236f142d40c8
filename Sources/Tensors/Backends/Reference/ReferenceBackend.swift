/// The reference backend (`--device reference`): every kernel a plain Swift loop over row-major
/// host memory, written from PyTorch's documented semantics and nothing else, so that it can
/// be read in one sitting and trusted. It is slow on purpose; `BackendParityTests` hold every
/// other backend to it, op by op and model by model.
package final class ReferenceBackend: HostBackend {
    package static let shared = ReferenceBackend()
    package var device: Device { .reference }
    package var kernels: KernelLibrary { KernelLibrary(name: "reference loops", version: nil, instructionSet: "scalar Swift") }

    package func plainLayout(_ dims: [Int], dataType: DataType) -> any Layout { PlainLayout(dims, dataType: dataType) }

    /// Every kernel here is a Float32 loop.
    package func computesNatively(_ type: DataType) -> Bool { type == .float32 }

    /// A new row-major tensor on this device.
    func empty(_ dims: [Int], dataType: DataType = .float32) -> Tensor {
        Tensor(empty: PlainLayout(dims, dataType: dataType), device: .reference)
    }

    /// A row-major Float32 tensor of zeros.
    func zeros(_ dims: [Int]) -> Tensor {
        let t = empty(dims)
        t.floats.initialize(repeating: 0, count: t.count)
        return t
    }

    package func tensor(shape: [Int], values: UnsafeBufferPointer<Float>) throws -> Tensor {
        let result = empty(shape)
        result.floats.update(from: values.baseAddress!, count: values.count)
        return result
    }

    package func assign(_ destination: Tensor, from source: Tensor) throws {
        let converted = try self.converted(source, to: destination.dataType)
        destination.hostPointer.copyMemory(from: converted.hostPointer, byteCount: destination.layout.byteCount)
    }

    /// Every tensor here is plain, so only the element type can differ.
    package func reordered(_ x: Tensor, like target: Tensor) throws -> Tensor {
        try converted(x, to: target.dataType)
    }

    package func copy(_ x: Tensor, like target: Tensor) throws -> Tensor {
        let result = empty(x.shape, dataType: target.dataType)
        try assign(result, from: x)
        return result
    }

    package func contiguous(_ x: Tensor) throws -> Tensor { x }

    package func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try map2(a, b, +) }

    package func relu(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = map1(x) { max($0, 0) }
        guard recording else { return (y, nil) }
        let saved = y.detached()
        return (y, { g in [try self.reluBackward(g, output: saved)] })
    }

    package func addReLU(_ a: Tensor, _ b: Tensor, recording: Bool) throws -> (Tensor, Pullback?) {
        let y = try map2(a, b) { max($0 + $1, 0) }
        guard recording else { return (y, nil) }
        let saved = y.detached()
        return (y, { g in
            let masked = try self.reluBackward(g, output: saved)
            return [masked, masked]
        })
    }

    /// dy where the ReLU's output is positive, else 0.
    func reluBackward(_ g: Tensor, output y: Tensor) throws -> Tensor {
        try map2(g, y) { gradient, output in output > 0 ? gradient : 0 }
    }

    /// output[n, o] = sum_k input[n, k] * weight[o, k] + bias[o].
    package func linear(_ input: Tensor, weight: Tensor, bias: Tensor?, recording: Bool) throws -> (Tensor, Pullback?) {
        let (n, k, o) = (input.shape[0], input.shape[1], weight.shape[0])
        let (x, w) = (input.floats, weight.floats)
        let y = empty([n, o])
        for r in 0..<n {
            for j in 0..<o {
                var acc: Float = bias?.floats[j] ?? 0
                for i in 0..<k { acc += x[r * k + i] * w[j * k + i] }
                y.floats[r * o + j] = acc
            }
        }
        guard recording else { return (y, nil) }
        let (savedX, savedW, hasBias) = (input.detached(), weight.detached(), bias != nil)
        return (y, { g in
            let (dy, x, w) = (g.floats, savedX.floats, savedW.floats)
            let dx = self.zeros([n, k]), dw = self.zeros([o, k]), db = self.zeros([o])
            for r in 0..<n {
                for j in 0..<o {
                    let d = dy[r * o + j]
                    db.floats[j] += d
                    for i in 0..<k {
                        dx.floats[r * k + i] += d * w[j * k + i]
                        dw.floats[j * k + i] += d * x[r * k + i]
                    }
                }
            }
            return [dx, dw, hasBias ? db : nil]
        })
    }

    /// Joins row-major blocks: for each index of the axes before `axis`, each input's slab in turn.
    package func concat(_ inputs: [Tensor], axis: Int, recording: Bool) throws -> (Tensor, Pullback?) {
        var shape = inputs[0].shape
        shape[axis] = inputs.reduce(0) { $0 + $1.shape[axis] }
        let y = empty(shape)
        let outer = shape[..<axis].reduce(1, *)
        let slabs = inputs.map { $0.shape[axis...].reduce(1, *) }, total = slabs.reduce(0, +)
        for o in 0..<outer {
            var offset = o * total
            for (t, slab) in zip(inputs, slabs) {
                (y.floats + offset).update(from: t.floats + o * slab, count: slab)
                offset += slab
            }
        }
        guard recording else { return (y, nil) }
        let shapes = inputs.map(\.shape)
        return (y, { g in
            let parts = shapes.map { self.empty($0) }
            for o in 0..<outer {
                var offset = o * total
                for (i, slab) in slabs.enumerated() {
                    (parts[i].floats + o * slab).update(from: g.floats + offset, count: slab)
                    offset += slab
                }
            }
            return parts
        })
    }
}
