import Base

/// The panel product (`VectorKernels.panelProduct`) compiled for AVX-512: 16 lanes, panels of 32
/// columns, blocks of up to 8 rows. `PanelGEMM` (Tensor) calls it.
///
/// This target is compiled for AVX-512 (Package.swift: `avx512`). Call it only where
/// `HostCPU.hasAVX512` holds: any function here may use AVX-512 instructions.
public enum PanelGEMM512 {
    /// `c = a × b` with `b` in 32-column panels (`VectorKernels.panelProduct`).
    public static func multiply(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        panels: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        VectorKernels.panelProduct(SIMD16<Float>.self, maxRows: 8, m: m, n: n, k: k, a: a, lda: lda,
                                   panels: panels, c: c, ldc: ldc)
    }
}
