import Data
import Foundation
import NN
import Train
import XCTest

/// Data-parallel training under Open MPI: `mpirun -np 2` runs of the real `tricks train`
/// (one thread per rank) against single-process runs with twice the batch. Skipped where
/// mpirun is not installed (scripts/install-deps.sh installs it).
final class DistributedTests: XCTestCase {
    var folders: [String] = []
    let mpirun = "/usr/bin/mpirun"

    override func tearDown() {
        for folder in folders { try? FileManager.default.removeItem(atPath: folder) }
    }

    var tricks: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tricks").path
    }

    func folder(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "bagoftricks-mpi-\(name)-\(UUID().uuidString)"
        folders.append(path)
        return path
    }

    /// Skips where mpirun is missing or cannot start two processes at all (a container without
    /// shared memory, say), saying which; a failure of our own code is not skipped.
    func requireMPI() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: mpirun), "Open MPI is not installed (scripts/install-deps.sh)")
        let (status, output) = try run(mpirun, ["-np", "2", "--oversubscribe", "--allow-run-as-root", "/bin/true"], timeout: 60)
        try XCTSkipUnless(status == 0, "mpirun cannot start 2 processes on this machine: \(output)")
    }

    /// Runs a program to its end, or kills it after `timeout` seconds (a test must not hang).
    func run(_ program: String, _ arguments: [String], timeout: Double = 300) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        watchdog.cancel()
        return (process.terminationStatus, output)
    }

    /// Runs `tricks train` with `ranks` processes (mpirun when more than one); returns status and output.
    @discardableResult
    func train(ranks: Int, _ arguments: [String], expectSuccess: Bool = true) throws -> (Int32, String) {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        try requireMPI()
        let (status, output) = ranks > 1
            ? try run(mpirun, ["-np", "\(ranks)", "--oversubscribe", "--allow-run-as-root", tricks, "train"] + arguments)
            : try run(tricks, ["train"] + arguments + ["--threads", "1"])
        if expectSuccess { XCTAssertEqual(status, 0, output) }
        return (status, output)
    }

    /// The largest difference between two checkpoints' tensors (weights and BatchNorm
    /// statistics), relative to the largest value in either.
    func relativeDifference(_ a: String, _ b: String) throws -> Float {
        let (x, y) = (try SafeTensors.read(a).entries, try SafeTensors.read(b).entries)
        XCTAssertEqual(Set(x.keys), Set(y.keys))
        var (difference, largest): (Float, Float) = (0, 0)
        for (key, entry) in x where entry.dtype == "F32" {
            let (u, v) = (try entry.floats(), try y[key]!.floats())
            for (p, q) in zip(u, v) { difference = max(difference, abs(p - q)); largest = max(largest, abs(p), abs(q)) }
        }
        return difference / largest
    }

    /// 200 images; one process with batch 16 and two with batch 8 take the same images at
    /// every one of the 12 steps, so without BatchNorm the weights must agree to float
    /// rounding (the gradient sums are added in another order). Tolerance: 1e-5 of the
    /// largest weight.
    func testTwoRanksEqualOneRankWithTwiceTheBatchWithoutBatchNorm() throws {
        let common = ["--model", "lenet5", "--train-per-class", "20", "--val-per-class", "5", "--epochs", "1", "--workers", "1", "--lr", "0.1"]
        let (one, two) = (folder("one"), folder("two"))
        try train(ranks: 1, common + ["-b", "16", "--output", one])
        let (_, output) = try train(ranks: 2, common + ["-b", "8", "--output", two])
        XCTAssertTrue(output.contains("2 processes x batch 8 = global batch 16"), output)
        let difference = try relativeDifference(one + "/last.safetensors", two + "/last.safetensors")
        XCTAssertLessThan(difference, 1e-5)
        // The comparison can fail: another seed gives other weights.
        let other = folder("other")
        try train(ranks: 2, common + ["-b", "8", "--seed", "1", "--output", other])
        XCTAssertGreaterThan(try relativeDifference(one + "/last.safetensors", other + "/last.safetensors"), 1e-2)
    }

    /// With BatchNorm, SyncBN makes two ranks equal one rank with twice the batch (weights and
    /// running statistics); per-process statistics (the default) do not. One step (20 images):
    /// a ResNet trained from scratch with BatchNorm amplifies rounding quickly (one process on 1
    /// and on 2 oneDNN threads differs by 1e-5 after one step, 2e-3 after three), so a longer
    /// run could not separate the two. Tolerance 5e-5 of the largest value; per-process
    /// statistics differ by about 5e-2.
    func testSyncBatchNormMatchesOneRankWithTwiceTheBatch() throws {
        let common = ["--model", "cifar_resnet20", "--train-per-class", "2", "--val-per-class", "2", "--epochs", "1", "--workers", "1"]
        let (one, synced, local) = (folder("one"), folder("sync"), folder("local"))
        try train(ranks: 1, common + ["-b", "16", "--output", one])
        try train(ranks: 2, common + ["-b", "8", "--sync-bn", "--output", synced])
        try train(ranks: 2, common + ["-b", "8", "--output", local])
        XCTAssertLessThan(try relativeDifference(one + "/last.safetensors", synced + "/last.safetensors"), 5e-5)
        XCTAssertGreaterThan(try relativeDifference(one + "/last.safetensors", local + "/last.safetensors"), 1e-2)
    }

    /// The tricks under 2 ranks. Linear scaling uses the global batch; gradient accumulation,
    /// FP16 with one loss-scaler decision for all ranks, label smoothing and distillation give
    /// the training of one process with twice the batch (no BatchNorm). Tolerance 1e-2: FP16
    /// rounds each micro-batch's gradients to 16 bits, and the micro-batches differ (4 images
    /// on each of two ranks, 8 on one). Mixup mixes within each rank's batch, so it only has to run.
    func testTricksUnderTwoRanks() throws {
        let data = ["--model", "lenet5", "--train-per-class", "10", "--val-per-class", "2", "--epochs", "1", "--workers", "1"]
        let teacher = folder("teacher")
        try train(ranks: 1, data + ["-b", "16", "--output", teacher])
        let tricks = data + ["--lr-per-256", "0.4", "--accumulation", "2", "--precision", "fp16", "--smoothing", "0.1",
                             "--teacher", teacher + "/last.safetensors", "--temperature", "2"]
        let (one, two) = (folder("one"), folder("two"))
        try train(ranks: 1, tricks + ["-b", "16", "--output", one])
        let (_, output) = try train(ranks: 2, tricks + ["-b", "8", "--output", two])
        XCTAssertTrue(output.contains("0.4 per 256 images x batch 16 / 256"), output)
        XCTAssertLessThan(try relativeDifference(one + "/last.safetensors", two + "/last.safetensors"), 1e-2)
        let (_, mixed) = try train(ranks: 2, data + ["-b", "8", "--mixup", "0.2", "--output", folder("mixup")])
        XCTAssertTrue(mixed.contains("final: top-1"), mixed)
    }

    /// A 2-rank run stopped after epoch 1 and resumed equals a 2-rank run of 2 epochs; resuming
    /// it with another number of processes is refused with the number to use.
    func testTwoRankCheckpointResumes() throws {
        let common = ["--model", "lenet5", "--train-per-class", "10", "--val-per-class", "2", "--workers", "1", "-b", "8"]
        let (straight, resumed) = (folder("straight"), folder("resumed"))
        try train(ranks: 2, common + ["--epochs", "2", "--output", straight])
        try train(ranks: 2, common + ["--epochs", "1", "--lr-steps", "1,1.5", "--output", resumed])
        try train(ranks: 2, common + ["--epochs", "2", "--resume", "--output", resumed])
        XCTAssertLessThan(try relativeDifference(straight + "/last.safetensors", resumed + "/last.safetensors"), 1e-6)
        let (status, output) = try train(ranks: 1, common + ["--epochs", "3", "--resume", "--output", resumed], expectSuccess: false)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("2 process(es)") && output.contains("mpirun -np 2"), output)
    }

    /// A rank that dies ends the whole job (mpirun stops the others) in bounded time.
    func testADeadRankStopsTheJob() throws {
        let (status, output, seconds) = try disturbRankOne(with: SIGKILL)
        XCTAssertNotEqual(status, 0)
        XCTAssertLessThan(seconds, 30, "the job should stop soon after a rank dies")
        XCTAssertTrue(output.contains("signal 9") || output.contains("Killed"), output)
    }

    /// A rank that hangs (stopped with SIGSTOP: mpirun cannot tell) is caught by the other's
    /// watchdog after --collective-timeout, which names the operation and ends the job.
    func testAHungRankIsCaughtByTheWatchdog() throws {
        let (status, output, seconds) = try disturbRankOne(with: SIGSTOP, extra: ["--collective-timeout", "5"])
        XCTAssertNotEqual(status, 0)
        XCTAssertLessThan(seconds, 40, "the watchdog should fire about 5 s after the hang")
        XCTAssertTrue(output.contains("has waited") && output.contains("--collective-timeout 5"), output)
    }

    /// Starts a long 2-rank run, sends rank 1 `signal` once the first checkpoint exists, and
    /// returns mpirun's status, its output and how long the job took to end after the signal.
    func disturbRankOne(with signal: Int32, extra: [String] = []) throws -> (Int32, String, Double) {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        try requireMPI()
        let out = folder("disturbed")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = ["-np", "2", "--oversubscribe", "--allow-run-as-root", tricks, "train", "--model", "lenet5", "--train-per-class", "100",
                             "--val-per-class", "2", "--epochs", "100", "-b", "8", "--workers", "1", "--output", out] + extra
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: out + "/last.safetensors") && Date() < deadline { usleep(50_000) }
        // Rank 1 is the child of mpirun whose environment says so.
        let rank1 = try XCTUnwrap(childPIDs(of: process.processIdentifier).first { environment(of: $0)["OMPI_COMM_WORLD_RANK"] == "1" })
        let sent = Date()
        kill(rank1, signal)
        // Should the job not end by itself, end it, so that the test fails instead of hanging.
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        watchdog.cancel()
        kill(rank1, SIGKILL)  // in case it outlived the job
        return (process.terminationStatus, output, Date().timeIntervalSince(sent))
    }

    func childPIDs(of parent: Int32) -> [Int32] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return all.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    func environment(of pid: Int32) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [:] }
        return Dictionary(data.split(separator: 0).compactMap { entry in
            let text = String(decoding: entry, as: UTF8.self)
            guard let eq = text.firstIndex(of: "=") else { return nil }
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }, uniquingKeysWith: { a, _ in a })
    }
}
