import Base
import Foundation
import TensorAVX512

/// The engine's GEMM on prepacked weights: `c = a × b` with `b` (`k x n`) held as panels
/// `[k, panelWidth]` (`VectorKernels.panelProduct`). The Winograd GEMMs, the blocked im2col
/// convs and the fc run on it wherever a kernel is compiled for the CPU, their weights packed
/// once, at load, for `hostKernel`; elsewhere they keep plain matrices for OpenBLAS.
public enum PanelGEMM {
    /// A compiled copy of the panel product.
    public enum Kernel: String, Sendable, CaseIterable {
        /// 16 lanes, 8 x 32 blocks (TensorAVX512, compiled with `-mavx512f`).
        case avx512
        /// 8 lanes, 6 x 16 blocks (this target, compiled for AVX2 + FMA).
        case avx2

        /// Columns per panel: two of the kernel's vectors.
        public var panelWidth: Int { self == .avx512 ? 32 : 16 }
    }

    /// Columns per panel of the weights the layers pack (for `hostKernel`; 32 where there is
    /// none). Layers take the panels only with a multiple of 32 output channels
    /// (`channelsFit`), which both kernels' widths divide.
    public static let panelWidth = hostKernel?.panelWidth ?? 32

    /// Whether weights with this many output channels can be packed in panels.
    public static func channelsFit(_ outChannels: Int) -> Bool { outChannels % 32 == 0 }

    /// The kernels this CPU can run, widest first: on x86-64 AVX2 + FMA always (the engine
    /// requires them, `HostCPU.required`), AVX-512 where `HostCPU.hasAVX512`; none elsewhere.
    public static let available: [Kernel] = {
        #if arch(x86_64)
        return HostCPU.missing.isEmpty ? (HostCPU.hasAVX512 ? [.avx512, .avx2] : [.avx2]) : []
        #else
        return []
        #endif
    }()

    /// The kernel the engine uses: the widest available one, or none (the layers then pack their
    /// weights for OpenBLAS) where none is or `MAGFLEET_GEMM=openblas` is set, to compare.
    public static let hostKernel: Kernel? =
        ProcessInfo.processInfo.environment["MAGFLEET_GEMM"] == "openblas" ? nil : available.first

    /// `c = a × b` with `b` in panels of `kernel.panelWidth` columns (`n` a multiple of it): `a`
    /// is `m x k` (leading dimension `lda`), `c` is `m x n` (leading dimension `ldc`), on
    /// `kernel` (one of `available`; default `hostKernel`).
    public static func multiply(
        kernel: Kernel? = nil, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        panels: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard let kernel = kernel ?? hostKernel else { preconditionFailure("PanelGEMM: no kernel for this CPU") }
        switch kernel {
        case .avx512:
            PanelGEMM512.multiply(m: m, n: n, k: k, a: a, lda: lda, panels: panels, c: c, ldc: ldc)
        case .avx2:
            VectorKernels.panelProduct(SIMD8<Float>.self, maxRows: 6, m: m, n: n, k: k, a: a, lda: lda,
                                       panels: panels, c: c, ldc: ldc)
        }
    }
}
