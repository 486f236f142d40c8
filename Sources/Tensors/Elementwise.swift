import DNNL

/// a + b for tensors of one shape, in `a`'s layout (b is reordered to it if needed): the
/// residual connection.
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameShape("add", a, b)
    let result = try accumulate(a, b)
    if Tensor.recording([a, b]) {
        result.record("add", inputs: [a, b]) { g in [g, g] }
    }
    return result
}

/// a * b elementwise, for tensors of one shape.
public func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameShape("multiply", a, b)
    let bb = try b.reordered(to: a.descriptor, op: "multiply")
    let result = try map2(a, bb) { $0 * $1 }
    if Tensor.recording([a, b]) {
        let (savedA, savedB) = (a.detached(), bb.detached())
        result.record("multiply", inputs: [a, b]) { g in
            let g = try g.reordered(to: savedA.descriptor, op: "multiply")
            return [try map2(g, savedB) { $0 * $1 }, try map2(g, savedA) { $0 * $1 }]
        }
    }
    return result
}

/// x * factor.
public func scale(_ x: Tensor, by factor: Float) throws -> Tensor {
    try x.requireFloat32("scale")
    let result = map1(x) { $0 * factor }
    if Tensor.recording([x]) {
        result.record("scale", inputs: [x]) { g in [map1(g) { $0 * factor }] }
    }
    return result
}

public func + (a: Tensor, b: Tensor) throws -> Tensor { try add(a, b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try multiply(a, b) }
public func * (a: Tensor, b: Float) throws -> Tensor { try scale(a, by: b) }

func requireSameShape(_ op: String, _ a: Tensor, _ b: Tensor) throws {
    guard a.shape == b.shape else { throw OpError(op: op, "shapes differ: \(a.shape) and \(b.shape)") }
    try a.requireFloat32(op)
    try b.requireFloat32(op)
}

/// f applied to every stored element (padding included: f(0) must be 0 where the layout pads,
/// which holds for the linear maps used here).
func map1(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let result = Tensor(empty: x.descriptor)
    let (px, pr) = (x.floats, result.floats)
    for i in 0..<x.physicalCount { pr[i] = f(px[i]) }
    return result
}

/// f over two tensors of the same layout.
func map2(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) throws -> Tensor {
    precondition(a.descriptor == b.descriptor)
    let result = Tensor(empty: a.descriptor)
    let (pa, pb, pr) = (a.floats, b.floats, result.floats)
    for i in 0..<a.physicalCount { pr[i] = f(pa[i], pb[i]) }
    return result
}
