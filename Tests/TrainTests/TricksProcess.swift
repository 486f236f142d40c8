import Data
import Foundation
import XCTest

/// The built `tricks` binary, run as a user runs it, for the command-line tests: one place for
/// its path, the data set the tests train on and their scratch folders.
enum TricksProcess {
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tricks").path
    }

    /// Skips the test where the built-in data set (Debian's dataset-fashion-mnist) is missing.
    static func requireFashionMNIST() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
    }

    /// A new folder path under the temporary directory (not created).
    static func scratch(_ name: String) -> String {
        NSTemporaryDirectory() + "bagoftricks-cli-\(name)-\(UUID().uuidString)"
    }

    /// Runs `tricks` with these arguments (in `directory`, or this process's working directory);
    /// its status and its standard output and error together.
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> (status: Int32, output: String) {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "the tricks binary is not built beside the tests")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        (process.standardOutput, process.standardError) = (pipe, pipe)
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
