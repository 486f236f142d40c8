/// One recorded op: the inputs it differentiates with respect to and how.
///
/// The backward closure maps the gradient of the op's result to one gradient per input (nil for
/// inputs that need none). It captures only detached tensors, never the result itself, so the
/// graph has no cycles; `backward()` drops each closure once run, freeing what it saved.
final class GradNode {
    let op: String
    /// Emptied once the backward closure has run, so that activations are freed as the
    /// backward pass goes rather than at its end.
    var inputs: [Tensor]
    var backward: ((Tensor) throws -> [Tensor?])?

    init(op: String, inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops record a tape. Off inside `withoutGradient` (evaluation, a teacher's forward
/// pass): then no closure, no saved activation.
public enum GradMode {
    @TaskLocal static var isEnabled = true

    public static var enabled: Bool { isEnabled }

    /// Runs `body` without recording, like PyTorch's `torch.no_grad()`.
    public static func withoutGradient<T>(_ body: () throws -> T) rethrows -> T {
        try $isEnabled.withValue(false, operation: body)
    }
}

extension Tensor {
    /// Whether an op with these inputs should record its backward.
    static func recording(_ inputs: [Tensor?]) -> Bool {
        GradMode.isEnabled && inputs.contains { $0?.requiresGrad == true }
    }

    /// Marks this op result as differentiable, with `backward` giving each input's gradient.
    func record(_ op: String, inputs: [Tensor], backward: @escaping Pullback) throws {
        requiresGrad = true
        gradNode = GradNode(op: op, inputs: inputs, backward: backward)
        if let type = StoragePrecision.storage { try roundInPlace(to: type) }
    }

    /// Back-propagates from a one-element loss: every leaf with `requiresGrad` gets `grad`
    /// incremented (gradients accumulate across calls, as in PyTorch; set `grad = nil` to zero).
    public func backward() throws {
        guard count == 1 else {
            throw OpError(op: "backward", "needs a scalar (one-element) tensor, got shape \(shape); pass gradient: for a non-scalar")
        }
        try backward(gradient: Tensor.full(shape, 1, device: device))
    }

    /// Back-propagates `gradient` (the derivative of some scalar with respect to this tensor).
    public func backward(gradient: Tensor) throws {
        guard gradient.shape == shape else {
            throw OpError(op: "backward", "gradient shape \(gradient.shape) does not match tensor shape \(shape)")
        }
        // Pullbacks take their gradients on their own device.
        let gradient = try gradient.to(device)
        guard requiresGrad else {
            throw OpError(op: "backward", "tensor of shape \(shape) does not require grad (no recorded op reaches a parameter)")
        }
        // Reverse topological order of the recorded ops reachable from here.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.gradNode?.inputs ?? [] where input.requiresGrad {
                stack.append((input, false))
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): gradient]
        // Popping (rather than iterating over a copy) lets each tensor go once handled.
        while let tensor = order.popLast() {
            let id = ObjectIdentifier(tensor)
            guard var g = grads.removeValue(forKey: id) else { continue }
            guard let node = tensor.gradNode else {
                if let existing = tensor.grad {
                    tensor.grad = try accumulate(existing, g)
                } else if isKnownUniquelyReferenced(&g), isKnownUniquelyReferenced(&g.storage), g.layout.isEqual(to: tensor.layout) {
                    tensor.grad = g
                } else {
                    // Copy what someone else still holds (add passes one gradient to both of
                    // its inputs), so that updating one `grad` in place never changes another.
                    tensor.grad = try tensor.backend.copy(g, like: tensor)
                }
                continue
            }
            guard let backward = node.backward else {
                throw OpError(op: "backward", "the graph through \(node.op) was already used by an earlier backward()")
            }
            let inputGrads = try backward(g)
            node.backward = nil
            if let type = StoragePrecision.storage { for grad in inputGrads { try grad?.roundInPlace(to: type) } }
            for (input, inputGrad) in zip(node.inputs, inputGrads) {
                guard var inputGrad, input.requiresGrad else { continue }
                // A gradient has its tensor's type (Float32 for parameters, bfloat16 for autocast activations).
                if inputGrad.dataType != input.dataType { inputGrad = try inputGrad.converted(to: input.dataType) }
                let key = ObjectIdentifier(input)
                grads[key] = try grads[key].map { try accumulate($0, inputGrad) } ?? inputGrad
            }
            node.inputs = []
        }
    }
}

/// `a + b` into new storage in `a`'s layout: a gradient reaching a tensor twice (a residual
/// branch) is summed, never written into a tensor someone else may hold.
func accumulate(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try a.backend.add(a, b)
}

extension Tensor {
    /// The recorded op that produced this tensor and its inputs (nil for a leaf, or once
    /// `backward()` has run through it): for tools and tests that inspect a model's graph.
    package var producer: (op: String, inputs: [Tensor])? { gradNode.map { ($0.op, $0.inputs) } }
}
