/// a + b for tensors of one shape, in `a`'s layout (b is reordered to it if needed): the
/// residual connection.
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let backend = try requireSameShape("add", a, b)
    let (a, b) = try sameComputeType(a, b, on: backend)
    let result = try backend.add(a, b)
    if Tensor.recording([a, b]) {
        try result.record("add", inputs: [a, b]) { g in [g, g] }
    }
    OpTrace.record(.add(fusedReLU: false), inputs: [a, b], output: result)
    return result
}

/// max(a + b, 0), in `a`'s layout: the end of a residual block, one buffer for the block's
/// output. The backward pass is ReLU's, from the output, and hands the masked gradient to
/// both inputs.
public func addReLU(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let backend = try requireSameShape("add_relu", a, b)
    let (a, b) = try sameComputeType(a, b, on: backend)
    let (result, pullback) = try backend.addReLU(a, b, recording: Tensor.recording([a, b]))
    if let pullback { try result.record("add_relu", inputs: [a, b], backward: pullback) }
    OpTrace.record(.add(fusedReLU: true), inputs: [a, b], output: result)
    return result
}

/// a * b elementwise, for tensors of one shape.
public func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let backend = try requireSameShape("multiply", a, b)
    let (a, b) = (try a.cast(to: .float32), try b.cast(to: .float32))  // a Float32 host loop
    let (result, pullback) = try backend.multiply(a, b, recording: Tensor.recording([a, b]))
    if let pullback { try result.record("multiply", inputs: [a, b], backward: pullback) }
    return result
}

/// x * factor.
public func scale(_ x: Tensor, by factor: Float) throws -> Tensor {
    let x = try x.cast(to: .float32)  // a Float32 host loop
    let result = try x.backend.scale(x, by: factor)
    if Tensor.recording([x]) {
        let backend = x.backend
        try result.record("scale", inputs: [x]) { g in [try backend.scale(g, by: factor)] }
    }
    return result
}

public func + (a: Tensor, b: Tensor) throws -> Tensor { try add(a, b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try multiply(a, b) }
public func * (a: Tensor, b: Float) throws -> Tensor { try scale(a, by: b) }

/// The backend of two same-shape tensors on one device.
func requireSameShape(_ op: String, _ a: Tensor, _ b: Tensor) throws -> any Backend {
    guard a.shape == b.shape else { throw OpError(op: op, "shapes differ: \(a.shape) and \(b.shape)") }
    return try commonDevice(op, [a, b]).backend
}

/// a and b in one type the backend computes in (`commonComputeType`).
func sameComputeType(_ a: Tensor, _ b: Tensor, on backend: any Backend) throws -> (Tensor, Tensor) {
    let both = try commonComputeType([a, b], on: backend)
    return (both[0], both[1])
}
