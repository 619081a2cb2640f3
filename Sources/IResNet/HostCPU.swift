import Foundation

/// What the engine's kernels need from the processor. On x86-64 the Tensor target is compiled
/// for AVX2 and FMA (Package.swift: `vectorized`), so a CPU without them would stop at the
/// first kernel with SIGILL; the engine asks first. This file lives outside Tensor so that the
/// check itself is compiled for the baseline instruction set.
public enum HostCPU {
    /// The instruction-set extensions the kernels are compiled for on this architecture.
    public static var required: [String] {
        #if arch(x86_64)
        return ["avx2", "fma"]
        #else
        return []
        #endif
    }

    /// The required extensions this CPU lacks (empty when the engine can run here). Reads the
    /// `flags` line of /proc/cpuinfo; where that cannot be read, nothing is reported missing.
    public static let missing: [String] = {
        guard !required.isEmpty,
              let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        return required.filter { !flags.contains($0) }
    }()
}
