import ArgumentParser
import Distributed
import Foundation
import Tensors
import Train

/// Data-parallel training: `mpirun -np N tricks train ...` (see README, "Several processes").
struct DistributedOptions: ParsableArguments {
    @Flag(name: .customLong("sync-bn"), help: "Under mpirun: BatchNorm statistics over the global batch (SyncBatchNorm) instead of per process.")
    var syncBN = false

    @Option(help: "Under mpirun: gradients are averaged in buckets of about this many MB (default: \(TrainConfig().bucketMB)).")
    var bucketMB: Double?

    @Option(help: "Under mpirun: seconds a collective may wait for the other processes before this one gives up (a rank died or hung).")
    var collectiveTimeout = 600.0

    func apply(to config: inout TrainConfig) {
        if syncBN { config.syncBN = true }
        if let bucketMB { config.bucketMB = bucketMB }
    }

    /// MPI when started by mpirun, else the single process. Under MPI, each process takes an
    /// equal share of this machine's cores unless --threads says otherwise.
    func collective(config: inout TrainConfig) throws -> (any Collective, MPICollective?) {
        guard MPICollective.launchedByMPI else {
            if config.syncBN { print("note: --sync-bn has no effect in a single process") }
            return (SingleProcess(), nil)
        }
        guard collectiveTimeout > 0 else { throw CommandError("--collective-timeout must be positive, got \(collectiveTimeout)") }
        let mpi = try MPICollective(timeout: collectiveTimeout)
        if config.threads == nil {
            config.threads = max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, mpi.localSize))
        }
        return (mpi, mpi)
    }
}
