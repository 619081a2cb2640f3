internal import CBLAS

/// The BLAS library in use (OpenBLAS): what it was built for, what core it picked at run
/// time, and how many threads it uses.
public enum BLAS {
    /// OpenBLAS's build configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The kernel core OpenBLAS selected for this CPU (e.g. "SkylakeX", "Haswell").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The number of threads OpenBLAS runs its kernels on.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
    }

    /// The number of processors OpenBLAS sees.
    public static var processorCount: Int { Int(openblas_get_num_procs()) }

    /// Sets OpenBLAS's thread count. A worker sharing a host with others gives each its own
    /// count so that cores are not oversubscribed.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "thread count must be at least 1")
        openblas_set_num_threads(Int32(count))
    }

    /// Row-major single-precision GEMM: `c = alpha * op(a) * op(b) + beta * c`.
    ///
    /// - Parameters:
    ///   - a: `m x k` (or `k x m` when `transposeA`), leading dimension `lda`.
    ///   - b: `k x n` (or `n x k` when `transposeB`), leading dimension `ldb`.
    ///   - c: `m x n`, leading dimension `ldc`.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM dimension")
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }
}
