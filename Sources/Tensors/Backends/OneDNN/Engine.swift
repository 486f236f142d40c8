import CDNNL
import Glibc

/// The CPU engine. One exists per process; oneDNN's CPU engine is stateless and thread-safe.
package final class Engine: @unchecked Sendable {
    package let handle: dnnl_engine_t

    init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), op: "engine", "cpu engine 0")
        handle = engine!
    }

    deinit { dnnl_engine_destroy(handle) }
}

/// An in-order CPU stream. Primitive execution on it is synchronous with the OpenMP runtime.
package final class Stream: @unchecked Sendable {
    package let handle: dnnl_stream_t

    init(engine: Engine) throws {
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine.handle, dnnl_stream_default_flags.rawValue), op: "stream", "cpu")
        handle = stream!
    }

    package func wait() throws {
        try check(dnnl_stream_wait(handle), op: "stream", "wait")
    }

    deinit { dnnl_stream_destroy(handle) }
}

/// The engine and stream every op runs on, made at first use.
///
/// Thread count: `TRICKS_NUM_THREADS` (or OpenMP's own `OMP_NUM_THREADS`) in the environment,
/// or `Threads.set(_:)` before the first op. oneDNN's JIT kernels read the OpenMP thread count
/// when a primitive is created, so it has to be fixed before that.
package final class Context: @unchecked Sendable {
    package let engine: Engine
    package let stream: Stream
    package let cache = PrimitiveCache()

    package static let shared: Context = {
        if let value = getenv("TRICKS_NUM_THREADS").map({ String(cString: $0) }), let n = Int(value), n > 0 {
            omp_set_num_threads(Int32(n))
        }
        do {
            let engine = try Engine()
            return Context(engine: engine, stream: try Stream(engine: engine))
        } catch {
            fatalError("cannot start oneDNN's CPU engine: \(error)")
        }
    }()

    private init(engine: Engine, stream: Stream) {
        self.engine = engine
        self.stream = stream
    }
}

/// The number of threads oneDNN's kernels use.
public enum Threads {
    public static var count: Int { Int(omp_get_max_threads()) }

    /// Fixes the thread count. Call before the first op: primitives already created keep theirs,
    /// so the primitive cache is emptied here.
    public static func set(_ n: Int) throws {
        guard n > 0 else { throw OpError(op: "threads", "thread count must be positive, got \(n)") }
        omp_set_num_threads(Int32(n))
        Context.shared.cache.removeAll()
    }
}
