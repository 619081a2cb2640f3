/// Why a checkpoint cannot become an `IResNet`.
public enum IResNetError: Error, CustomStringConvertible, Equatable {
    /// The state dict lacks a key the architecture needs.
    case missingKey(key: String, expected: [Int])
    /// The state dict has a backbone key the architecture does not use.
    case extraKey(key: String, shape: [Int])
    /// A key is present with the wrong shape.
    case shapeMismatch(key: String, expected: [Int], actual: [Int])
    /// The checkpoint holds another architecture than the one requested.
    case architectureMismatch(requested: String, found: String)
    /// The architecture could not be read off the keys.
    case cannotDetectArchitecture(reason: String)
    /// The processor lacks instruction-set extensions the kernels are compiled for.
    case unsupportedCPU(missing: [String])
    /// `--precision bf16` where it cannot run: a CPU without AVX512_BF16, or the exact path.
    case unsupportedPrecision(reason: String)

    public var description: String {
        switch self {
        case let .missingKey(key, expected): return "missing key '\(key)' (expected shape \(expected))"
        case let .extraKey(key, shape): return "unexpected key '\(key)' with shape \(shape): not part of the architecture"
        case let .shapeMismatch(key, expected, actual): return "key '\(key)' has shape \(actual), expected \(expected)"
        case let .architectureMismatch(requested, found):
            return "architecture mismatch: the checkpoint holds \(found) but \(requested) was requested"
        case let .cannotDetectArchitecture(reason): return "cannot detect the architecture: \(reason)"
        case let .unsupportedPrecision(reason): return "--precision bf16 is not available: \(reason)"
        case let .unsupportedCPU(missing):
            return "this CPU lacks \(missing.joined(separator: ", ")), which the engine's kernels are built for (x86-64-v3: Intel Haswell, AMD Zen or later)"
        }
    }
}
