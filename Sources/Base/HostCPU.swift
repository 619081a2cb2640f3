import Foundation

/// What the engine's kernels need from the processor. On x86-64 the Tensor target is compiled
/// for AVX2 and FMA (Package.swift: `vectorized`), so a CPU without them would stop at the
/// first kernel with SIGILL; the engine asks first. This file lives in Base, outside Tensor, so
/// that the check itself is compiled for the baseline instruction set.
public enum HostCPU {
    /// The instruction-set extensions the kernels are compiled for on this architecture.
    public static var required: [String] {
        #if arch(x86_64)
        return ["avx2", "fma"]
        #else
        return []
        #endif
    }

    /// Whether the CPU has AVX-512 (AVX512F): the engine's GEMMs then run on `PanelGEMM`'s
    /// 16-lane kernel, elsewhere on its 8-lane AVX2 one. `MAGFLEET_NO_AVX512=1` turns it off
    /// (to run as a CPU without AVX-512 does).
    public static let hasAVX512: Bool = {
        #if arch(x86_64)
        if ProcessInfo.processInfo.environment["MAGFLEET_NO_AVX512"] == "1" { return false }
        return flags.contains("avx512f")
        #else
        return false
        #endif
    }()

    /// Whether the CPU has AVX512_BF16 (with AVX512F, BW and VL), which `--precision bf16` needs:
    /// Intel Sapphire Rapids and AMD Zen 4 onwards. `MAGFLEET_NO_AVX512=1` turns it off too.
    public static let hasAVX512BF16: Bool = hasAVX512 && ["avx512_bf16", "avx512bw", "avx512vl"].allSatisfy(flags.contains)

    /// The CPU's instruction-set extensions: the `flags` line of /proc/cpuinfo (`Features` on
    /// Arm); empty where it cannot be read.
    public static let flags: Set<String> = Set((cpuinfo(["flags", "Features"]) ?? "").split(separator: " ").map(String.init))

    /// The CPU's model name (`model name` of /proc/cpuinfo, `Model` on Arm), or "unknown".
    public static let modelName: String = cpuinfo(["model name", "Model"]) ?? "unknown"

    /// The size of one core's L2 cache in bytes (the engine sizes its Winograd blocks to it),
    /// from /sys/devices/system/cpu/cpu0/cache; 1 MiB where that cannot be read.
    public static let l2CacheBytes: Int = {
        let root = "/sys/devices/system/cpu/cpu0/cache"
        for index in (try? FileManager.default.contentsOfDirectory(atPath: root))?.sorted() ?? [] where index.hasPrefix("index") {
            func read(_ name: String) -> String? {
                (try? String(contentsOfFile: "\(root)/\(index)/\(name)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard read("level") == "2", read("type") != "Instruction", let size = read("size"), let bytes = cacheSize(size) else { continue }
            return bytes
        }
        return 1 << 20
    }()

    /// A sysfs cache size ("1024K", "2M", "524288") in bytes, or nil.
    static func cacheSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.last, let unit = units[last] { return Int(text.dropLast()).map { $0 * unit } }
        return Int(text)
    }

    /// The value of the first /proc/cpuinfo line whose key is one of `keys`: the one reader of
    /// that file.
    static func cpuinfo(_ keys: Set<String>) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, keys.contains(parts[0].trimmingCharacters(in: .whitespaces)) else { continue }
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// The required extensions this CPU lacks (empty when the engine can run here). Reads the
    /// `flags` line of /proc/cpuinfo; where that cannot be read, nothing is reported missing.
    public static let missing: [String] = flags.isEmpty ? [] : required.filter { !flags.contains($0) }
}
