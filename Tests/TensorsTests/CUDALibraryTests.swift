@testable import Diagnostics
import Foundation
import XCTest
@testable import Tensors

/// Finding and loading NVIDIA's libraries (issue 17's groundwork). The search and its errors
/// are checked everywhere; NVRTC only where its library is found (a venv with the
/// `nvidia-cuda-nvrtc` wheel on PATH, or TRICKS_CUDA_LIBS), and the GPU steps only on a GPU:
/// skipped with the reason otherwise.
final class CUDALibraryTests: XCTestCase {
    /// A fake Python environment: `bin/python3` beside `lib/python3.12/site-packages/nvidia/...`.
    private func makeEnvironment() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cuda-env-\(UUID().uuidString)")
        let site = root.appendingPathComponent("lib/python3.12/site-packages/nvidia")
        for folder in ["cudnn/lib", "cu13/lib", "cuda_nvrtc/lib", "bin"] {
            try FileManager.default.createDirectory(at: site.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("bin"), withIntermediateDirectories: true)
        let python = root.appendingPathComponent("bin/python3")
        XCTAssertTrue(FileManager.default.createFile(atPath: python.path, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755]))
        return root
    }

    func testSearchOrderIsVariableThenPipWheelsThenSystem() throws {
        let root = try makeEnvironment()
        defer { try? FileManager.default.removeItem(at: root) }
        let listed = FileManager.default.temporaryDirectory.path
        let folders = CUDALibraries.searchFolders(environment: ["TRICKS_CUDA_LIBS": listed + ":/does/not/exist",
                                                                "PATH": "/usr/bin:\(root.path)/bin"])
        let site = root.path + "/lib/python3.12/site-packages/nvidia"
        XCTAssertEqual(folders.first, listed, "TRICKS_CUDA_LIBS comes first")
        XCTAssertFalse(folders.contains("/does/not/exist"), "folders that do not exist are left out")
        let cudnn = try XCTUnwrap(folders.firstIndex(of: site + "/cudnn/lib"))
        let cu13 = try XCTUnwrap(folders.firstIndex(of: site + "/cu13/lib"))
        let cuda12 = try XCTUnwrap(folders.firstIndex(of: site + "/cuda_nvrtc/lib"), "CUDA 12's per-package layout")
        XCTAssertLessThan(cudnn, cu13)
        XCTAssertLessThan(cu13, cuda12)
        if let system = folders.firstIndex(of: "/usr/lib/x86_64-linux-gnu") { XCTAssertGreaterThan(system, cuda12) }
        XCTAssertEqual(Set(folders).count, folders.count, "no folder twice")

        let venv = CUDALibraries.searchFolders(environment: ["VIRTUAL_ENV": root.path])
        XCTAssertTrue(venv.contains(site + "/cudnn/lib"), "found through VIRTUAL_ENV too")
    }

    func testMissingLibraryIsNamedWithItsRole() throws {
        let library = CUDALibraries.Library(role: "a test library", names: ["libtricks_absent.so.7"])
        guard case .failure(let error) = CUDALibraries.load(library, environment: [:]) else { return XCTFail("loaded a library that does not exist") }
        XCTAssertEqual(error.description, "a test library (libtricks_absent.so.7) not found")
        XCTAssertThrowsError(try CUDALibraries.load([library], environment: [:])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("CUDA is not usable here: a test library (libtricks_absent.so.7) not found"), text)
            XCTAssertTrue(text.contains("TRICKS_CUDA_LIBS"), text)
        }
    }

    func testAFileThatIsNotALibraryIsReportedAsNotLoadable() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cuda-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        XCTAssertTrue(FileManager.default.createFile(atPath: folder.appendingPathComponent("libtricks_broken.so.1").path, contents: Data("not ELF".utf8)))
        let library = CUDALibraries.Library(role: "a broken library", names: ["libtricks_broken.so.1"])
        guard case .failure(let error) = CUDALibraries.load(library, environment: ["TRICKS_CUDA_LIBS": folder.path]) else {
            return XCTFail("loaded a text file")
        }
        XCTAssertTrue(error.description.contains("found but not loadable"), error.description)
        XCTAssertTrue(error.description.contains(folder.path), error.description)
    }

    private func nvrtc() throws -> NVRTC {
        guard case .success(let libraries) = CUDALibraries.load(CUDALibraries.nvrtc) else {
            throw XCTSkip("NVRTC 13 not found (put a venv with the nvidia-cuda-nvrtc wheel on PATH, or set TRICKS_CUDA_LIBS)")
        }
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("tricks-cache-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: cache) }
        return try NVRTC(libraries, environment: ["TRICKS_CACHE": cache.path])
    }

    func testNVRTCCompilesToACachedCubin() throws {
        let compiler = try nvrtc()
        let cubin = try compiler.cubin(CUDACheck.axpySource, name: "axpy", capability: 90)
        XCTAssertEqual(Array(cubin.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "a cubin is an ELF file")
        let cached = try FileManager.default.contentsOfDirectory(atPath: compiler.cacheFolder.path).filter { $0.hasSuffix(".cubin") }
        XCTAssertEqual(cached.count, 1)
        XCTAssertTrue(cached[0].hasPrefix("axpy-sm90-"), cached[0])
        XCTAssertEqual(try compiler.cubin(CUDACheck.axpySource, name: "axpy", capability: 90), cubin, "the second call reads the cache")
        _ = try compiler.cubin(CUDACheck.axpySource, name: "axpy", capability: 80)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: compiler.cacheFolder.path).filter { $0.hasSuffix(".cubin") }.count, 2,
                       "another compute capability is another file")
    }

    func testNVRTCErrorCarriesTheCompilerLog() throws {
        let compiler = try nvrtc()
        XCTAssertThrowsError(try compiler.cubin("extern \"C\" __global__ void broken(float *y) { y[0] = undefined_name; }",
                                                name: "broken", capability: 90)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("NVRTC could not compile broken"), text)
            XCTAssertTrue(text.contains("undefined_name"), text)
        }
    }

    func testBackendKernelsCompileForHopperAndAmpere() throws {
        let compiler = try nvrtc()
        for capability in [80, 90] {
            let cubin = try compiler.cubin(CUDAKernels.source, name: "kernels", capability: capability, options: CUDAKernels.options)
            // The ELF symbol table holds each extern "C" kernel's name as is.
            let text = String(decoding: cubin.map { $0 == 0 ? 10 : $0 }, as: UTF8.self)
            let symbols = Set(text.split(separator: "\n").map(String.init))
            for name in CUDAKernels.names {
                XCTAssertTrue(symbols.contains(name) || symbols.contains(".text." + name), "sm_\(capability) cubin has no kernel \(name)")
            }
        }
    }

    /// On a GPU: the driver, the compiled kernel and cuDNN's convolutions against the CPU.
    func testCUDACheckOnAGPU() throws {
        guard case .success = CUDALibraries.load(CUDALibraries.driver) else { throw XCTSkip("no NVIDIA driver (libcuda.so.1) here") }
        let check = CUDACheck()
        guard check.steps.contains(where: { $0.name == "GPU" && $0.passed == true }) else {
            throw XCTSkip("the driver loaded but found no GPU: \(check.lines.joined(separator: " | "))")
        }
        XCTAssertTrue(check.passed, check.lines.joined(separator: "\n"))
    }
}
