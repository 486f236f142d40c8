import Foundation

/// NVIDIA's libraries, found and loaded at run time with dlopen, so that the package builds,
/// tests and trains on machines without CUDA: nothing here is linked, and no CUDA header or
/// toolkit is needed to build.
///
/// Where they are looked for, first match wins, per library:
/// 1. the folders in `TRICKS_CUDA_LIBS` (colon-separated);
/// 2. the NVIDIA pip wheels of a Python environment, as PyTorch uses them: `nvidia/cudnn/lib`,
///    `nvidia/cu13/lib` (CUDA 13's wheels), and `nvidia/<package>/lib` (CUDA 12's layout), under
///    the `site-packages` of `$VIRTUAL_ENV`, of every `python3` on `PATH`, and of `~/.local`;
/// 3. the system: the driver's and toolkit's usual folders, then the dynamic loader's own search.
///
/// cuDNN's `libcudnn.so.9` and NVRTC load their sub-libraries (`libcudnn_cnn.so.9`,
/// `libnvrtc-builtins.so.13.*`, ...) by name when first needed, which the loader might not
/// find in a wheel's folder. So those are loaded right after it, by absolute path and
/// RTLD_GLOBAL: the later dlopen by the same name then gets the copy already loaded.
public struct CUDALibraries: @unchecked Sendable {
    /// What one library is, for messages and for the search.
    public struct Library: Sendable {
        public let role: String
        public let names: [String]
        /// Loaded first from the same folder when present (sub-libraries opened by name).
        public let companions: [String]

        public init(role: String, names: [String], companions: [String] = []) {
            (self.role, self.names, self.companions) = (role, names, companions)
        }
    }

    public static let driver = Library(role: "the NVIDIA driver", names: ["libcuda.so.1"], companions: [])
    public static let cudnn = Library(role: "cuDNN 9", names: ["libcudnn.so.9"], companions: [
        "libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9",
        "libcudnn_engines_tensor_ir.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
        "libcudnn_adv.so.9",
    ])
    public static let cublasLt = Library(role: "cuBLASLt 13", names: ["libcublasLt.so.13"], companions: [])
    /// cuBLAS loads cuBLASLt by name: from the same folder first.
    public static let cublas = Library(role: "cuBLAS 13", names: ["libcublas.so.13"], companions: ["libcublasLt.so.13"])
    public static let nvrtc = Library(role: "NVRTC 13", names: ["libnvrtc.so.13"], companions: ["libnvrtc-builtins.so.13.*"])
    public static let all = [driver, cudnn, cublas, cublasLt, nvrtc]

    /// dlopen handles by library role, and where each was found (a path, or the bare name
    /// when the system loader found it).
    public let handles: [String: UnsafeMutableRawPointer]
    public let locations: [String: String]

    /// Loads `libraries` (all four unless told), or throws one error naming each that is missing.
    public static func load(_ libraries: [Library] = all,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CUDALibraries {
        let folders = searchFolders(environment: environment)
        var handles: [String: UnsafeMutableRawPointer] = [:], locations: [String: String] = [:], missing: [String] = []
        for library in libraries {
            switch open(library, in: folders) {
            case .success(let (handle, location)): (handles[library.role], locations[library.role]) = (handle, location)
            case .failure(let reason): missing.append(reason.description)
            }
        }
        guard missing.isEmpty else { throw CUDAError("CUDA is not usable here: " + missing.joined(separator: "; ") + ". " + hint) }
        return CUDALibraries(handles: handles, locations: locations)
    }

    /// One library, or the reason it cannot be loaded (without the hint).
    public static func load(_ library: Library, environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<CUDALibraries, CUDAError> {
        open(library, in: searchFolders(environment: environment))
            .map { CUDALibraries(handles: [library.role: $0.0], locations: [library.role: $0.1]) }
    }

    /// What to do when a library is missing.
    public static let hint = "Set TRICKS_CUDA_LIBS to the folders that hold NVIDIA's libraries, or put the python3 of an "
        + "environment with PyTorch's NVIDIA pip wheels on PATH"

    /// The folders searched, in order (the system loader's own search comes after them).
    public static func searchFolders(environment: [String: String]) -> [String] {
        var folders: [String] = []
        if let listed = environment["TRICKS_CUDA_LIBS"] {
            folders += listed.split(separator: ":").map(String.init)
        }
        for sitePackages in pythonSitePackages(environment: environment) {
            let nvidia = sitePackages + "/nvidia"
            folders += [nvidia + "/cudnn/lib", nvidia + "/cu13/lib"]
            // CUDA 12's wheels: one folder per package (cublas, cuda_nvrtc, ...).
            let packages = (try? FileManager.default.contentsOfDirectory(atPath: nvidia)) ?? []
            folders += packages.sorted().filter { $0 != "cudnn" && $0 != "cu13" }.map { "\(nvidia)/\($0)/lib" }
        }
        folders += ["/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/local/cuda/lib64",
                    "/usr/local/cuda/targets/x86_64-linux/lib"]
        var seen = Set<String>()
        return folders.filter { FileManager.default.fileExists(atPath: $0) && seen.insert($0).inserted }
    }

    /// `site-packages` folders of the Python environments in reach: `$VIRTUAL_ENV`, each
    /// `python3` on `PATH` (a venv's `bin` sits beside its `lib`), `~/.local`.
    static func pythonSitePackages(environment: [String: String]) -> [String] {
        var prefixes: [String] = []
        if let venv = environment["VIRTUAL_ENV"] { prefixes.append(venv) }
        for folder in (environment["PATH"] ?? "").split(separator: ":") where folder.hasSuffix("/bin") {
            if FileManager.default.isExecutableFile(atPath: "\(folder)/python3") { prefixes.append(String(folder.dropLast(4))) }
        }
        if let home = environment["HOME"] { prefixes.append(home + "/.local") }
        var found: [String] = []
        for prefix in prefixes {
            for lib in ["lib", "lib64"] {
                let base = "\(prefix)/\(lib)"
                let pythons = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { $0.hasPrefix("python3") }.sorted()
                for python in pythons {
                    for packages in ["site-packages", "dist-packages"] {
                        let path = "\(base)/\(python)/\(packages)"
                        if FileManager.default.fileExists(atPath: path + "/nvidia") { found.append(path) }
                    }
                }
            }
        }
        return found
    }

    private static func open(_ library: Library, in folders: [String]) -> Result<(UnsafeMutableRawPointer, String), CUDAError> {
        var errors: [String] = []
        for folder in folders {
            for name in library.names where FileManager.default.fileExists(atPath: "\(folder)/\(name)") {
                let path = "\(folder)/\(name)"
                guard let handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL) else {
                    errors.append("\(path): \(String(cString: dlerror()))")
                    continue
                }
                // Only once the library itself loaded, so that a folder whose main library
                // fails leaves no sub-libraries of its version behind for another folder's.
                for companion in library.companions {
                    for path in matching(companion, in: folder) { _ = dlopen(path, RTLD_NOW | RTLD_GLOBAL) }
                }
                return .success((handle, path))
            }
        }
        // Last, the loader's own search (LD_LIBRARY_PATH, ld.so.cache).
        for name in library.names {
            if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) { return .success((handle, name)) }
        }
        let tried = errors.isEmpty ? "not found" : "found but not loadable (\(errors.joined(separator: ", ")))"
        return .failure(CUDAError("\(library.role) (\(library.names.joined(separator: " or "))) \(tried)"))
    }

    /// Files in `folder` matching `pattern`, which may end in `*`.
    private static func matching(_ pattern: String, in folder: String) -> [String] {
        guard pattern.hasSuffix("*") else {
            return FileManager.default.fileExists(atPath: "\(folder)/\(pattern)") ? ["\(folder)/\(pattern)"] : []
        }
        let prefix = String(pattern.dropLast())
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.filter { $0.hasPrefix(prefix) }.sorted().map { "\(folder)/\($0)" }
    }

    /// The function `name` of the library with `role`, as the C function type `T`.
    package func symbol<T>(_ name: String, in library: Library, as type: T.Type = T.self) throws -> T {
        guard let handle = handles[library.role], let address = dlsym(handle, name) else {
            throw CUDAError("\(name) is missing from \(locations[library.role] ?? library.names[0]) (\(library.role)): an older version?")
        }
        return unsafeBitCast(address, to: type)
    }
}

/// "major.minor.patch" of a version number encoded as cuDNN's and cuBLASLt's are:
/// major * 10000 + minor * 100 + patch.
package func dottedVersion(_ v: Int) -> String { "\(v / 10000).\(v / 100 % 100).\(v % 100)" }

/// A CUDA, cuDNN or NVRTC call that failed, or a library that is missing, in one line.
public struct CUDAError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
