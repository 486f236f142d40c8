import Foundation
import Synchronization
import Tensors

/// A `Collective` over MPI: Debian's Open MPI (libmpi.so.40), loaded at run time with dlopen,
/// so that the package builds, tests and trains single-process on a machine without MPI.
///
/// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of exported
/// globals (`ompi_mpi_comm_world`, ...), which dlsym returns. Not for MPICH, whose handles are
/// integers.
///
/// Faults: mpirun stops the whole job when a rank exits with an error or is killed. A rank
/// that hangs, or a network that stops delivering, is caught by a watchdog: a collective
/// that waits longer than `timeout` prints which one and on which rank, and ends this
/// process with status 75, upon which mpirun stops the others.
public final class MPICollective: Collective, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Processes of this job on this machine (for the default thread count).
    public let localSize: Int
    public let timeout: Double

    private let api: API
    /// Start (ns since boot) of the collective in flight, 0 when none; read by the watchdog.
    private let inFlightSince = Atomic<UInt64>(0)
    private let inFlightName = Mutex<String>("")

    /// Whether this process was started by Open MPI's mpirun (it sets OMPI_COMM_WORLD_SIZE).
    public static var launchedByMPI: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// Loads libmpi, calls MPI_Init and starts the watchdog.
    public init(timeout: Double = 600) throws {
        api = try API()
        var provided: Int32 = 0
        // MPI_THREAD_SERIALIZED (2): collectives come from one thread at a time, not always the same one.
        guard api.initThread(nil, nil, 2, &provided) == 0 else { throw DistributedError("MPI_Init_thread failed") }
        var r: Int32 = 0, s: Int32 = 0
        _ = api.commRank(api.commWorld, &r)
        _ = api.commSize(api.commWorld, &s)
        (rank, size, self.timeout) = (Int(r), Int(s), timeout)
        localSize = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
        startWatchdog()
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try chunked(values.count) { offset, count in
            try call("MPI_Allreduce of \(values.count) floats") {
                api.allreduce(api.inPlace, values.baseAddress! + offset, count, api.float, api.sum, api.commWorld)
            }
        }
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        try chunked(values.count) { offset, count in
            try call("MPI_Allreduce of \(values.count) doubles") {
                api.allreduce(api.inPlace, values.baseAddress! + offset, count, api.double, api.sum, api.commWorld)
            }
        }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard let base = bytes.baseAddress else { return }
        try chunked(bytes.count) { offset, count in
            try call("MPI_Bcast of \(bytes.count) bytes from rank \(root)") {
                api.bcast(base + offset, count, api.byte, Int32(root), api.commWorld)
            }
        }
    }

    /// Ends MPI cleanly; call once, at the end of a run, on every rank.
    public func finalize() {
        inFlightSince.store(0, ordering: .relaxed)
        _ = api.finalize()
    }

    /// MPI counts are Int32: split larger buffers.
    private func chunked(_ total: Int, _ body: (Int, Int32) throws -> Void) throws {
        var offset = 0
        repeat {
            let count = min(total - offset, 1 << 30)
            try body(offset, Int32(count))
            offset += count
        } while offset < total
    }

    private func call(_ what: @autoclosure () -> String, _ body: () -> Int32) throws {
        inFlightName.withLock { $0 = what() }
        inFlightSince.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        let status = body()
        inFlightSince.store(0, ordering: .relaxed)
        guard status == 0 else { throw DistributedError("rank \(rank): \(what()) failed with MPI error \(status)") }
    }

    private func startWatchdog() {
        let thread = Thread { [self] in
            while true {
                sleep(1)
                let since = inFlightSince.load(ordering: .relaxed)
                guard since != 0 else { continue }
                let waited = Double(DispatchTime.now().uptimeNanoseconds &- since) / 1e9
                if waited > timeout {
                    let name = inFlightName.withLock { $0 }
                    FileHandle.standardError.write(Data(("\nrank \(rank) of \(size): \(name) has waited \(Int(waited)) s for the other ranks "
                        + "(--collective-timeout \(Int(timeout))); a rank has probably died or hung. Stopping.\n").utf8))
                    _exit(75)
                }
            }
        }
        thread.stackSize = 1 << 16
        thread.start()
    }
}

public struct DistributedError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The MPI entry points and handles, found with dlsym.
private struct API: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    let initThread: @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?, Int32, UnsafeMutablePointer<Int32>) -> Int32
    let commRank: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    let commSize: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    let allreduce: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer, Int32, Handle, Handle, Handle) -> Int32
    let bcast: @convention(c) (UnsafeMutableRawPointer, Int32, Handle, Int32, Handle) -> Int32
    let finalize: @convention(c) () -> Int32
    let commWorld: Handle, float: Handle, double: Handle, byte: Handle, sum: Handle
    /// Open MPI's MPI_IN_PLACE is ((void *) 1).
    let inPlace = UnsafeRawPointer(bitPattern: 1)

    static let libraryNames = ["libmpi.so.40", "libmpi.so"]

    init() throws {
        // RTLD_GLOBAL: Open MPI's own plugins resolve symbols of libmpi.
        guard let library = API.libraryNames.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_GLOBAL) }).first else {
            throw DistributedError("started by mpirun, but Open MPI's library (\(API.libraryNames.joined(separator: " or "))) could not be loaded: "
                                   + "install openmpi-bin and libopenmpi-dev (scripts/install-deps.sh does)")
        }
        func symbol<T>(_ name: String, as type: T.Type = T.self) throws -> T {
            guard let address = dlsym(library, name) else { throw DistributedError("\(name) is missing from libmpi: not Open MPI?") }
            return unsafeBitCast(address, to: type)
        }
        // Open MPI's handles are the addresses of its predefined objects.
        func handle(_ name: String) throws -> Handle { try symbol(name) }
        initThread = try symbol("MPI_Init_thread")
        commRank = try symbol("MPI_Comm_rank")
        commSize = try symbol("MPI_Comm_size")
        allreduce = try symbol("MPI_Allreduce")
        bcast = try symbol("MPI_Bcast")
        finalize = try symbol("MPI_Finalize")
        commWorld = try handle("ompi_mpi_comm_world")
        float = try handle("ompi_mpi_float")
        double = try handle("ompi_mpi_double")
        byte = try handle("ompi_mpi_byte")
        sum = try handle("ompi_mpi_op_sum")
    }
}
