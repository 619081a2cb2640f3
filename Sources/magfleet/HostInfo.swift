import Foundation
import IResNet
import Base

/// What the host's CPU is and can do, read from /proc/cpuinfo (Linux).
struct HostInfo: Codable {
    var cpuModel: String
    var logicalCores: Int
    var simdFeatures: [String]

    /// The SIMD extensions the kernels care about, in the order they are reported.
    static let reportedFeatures = [
        "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq",
        "avx512_vnni", "avx512_bf16", "amx_tile", "neon", "asimd",
    ]

    static func current() -> HostInfo {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            return HostInfo(cpuModel: "unknown", logicalCores: cores, simdFeatures: [])
        }
        var model = "unknown"
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            if key == "model name" || key == "Model" {
                model = parts[1].trimmingCharacters(in: .whitespaces)
                break
            }
        }
        return HostInfo(
            cpuModel: model, logicalCores: cores,
            simdFeatures: reportedFeatures.filter(HostCPU.flags.contains))
    }
}
