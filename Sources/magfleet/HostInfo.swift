import Foundation
import Base

/// What the host's CPU is and can do (HostCPU reads /proc/cpuinfo).
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
        HostInfo(cpuModel: HostCPU.modelName, logicalCores: ProcessInfo.processInfo.activeProcessorCount,
                 simdFeatures: reportedFeatures.filter(HostCPU.flags.contains))
    }
}
