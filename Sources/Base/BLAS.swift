internal import CBLAS
import Synchronization

/// The BLAS library in use (OpenBLAS): what it was built for, what core it picked at run
/// time, and how many threads it uses.
public enum BLAS {
    /// OpenBLAS's build configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The kernel core OpenBLAS selected for this CPU (e.g. "SkylakeX", "Haswell").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The number of threads OpenBLAS runs its kernels on.
    public static var threadCount: Int {
        singleThreaded.withLock { $0.holders > 0 ? $0.threads : Int(openblas_get_num_threads()) }
    }

    /// The number of processors OpenBLAS sees.
    public static var processorCount: Int { Int(openblas_get_num_procs()) }

    /// Sets OpenBLAS's thread count. The engine's own threads follow it through
    /// `Parallel.setThreadCount` (Tensor), which calls this; a worker sharing a host with others
    /// gives each its own count so that cores are not oversubscribed.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "thread count must be at least 1")
        singleThreaded.withLock { state in
            state.threads = count
            if state.holders == 0 { openblas_set_num_threads(Int32(count)) }
        }
    }

    /// Runs `body` with OpenBLAS held at one thread, so that the engine's parts
    /// (`Parallel.forEachPart`) can each call it on their own core without OpenBLAS's pool
    /// nesting inside them (the engine's parts are `Parallel.forEachPart`, in Tensor). Nested and concurrent holders share one hold; the last to leave
    /// gives OpenBLAS its thread count back.
    public static func withSingleThreadedKernels<R>(_ body: () throws -> R) rethrows -> R {
        singleThreaded.withLock { state in
            if state.holders == 0 {
                state.threads = Int(openblas_get_num_threads())
                openblas_set_num_threads(1)
            }
            state.holders += 1
        }
        defer {
            singleThreaded.withLock { state in
                state.holders -= 1
                if state.holders == 0 { openblas_set_num_threads(Int32(state.threads)) }
            }
        }
        return try body()
    }

    private struct HoldState: Sendable {
        var holders = 0
        var threads = 1
    }

    private static let singleThreaded = Mutex(HoldState())

    /// Row-major single-precision matrix-vector product: `y = alpha · a · x + beta · y`, `a` is
    /// `m x n` with leading dimension `lda`.
    public static func sgemv(
        m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        precondition(m >= 0 && n >= 0, "negative GEMV dimension")
        if m == 0 { return }
        cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(m), blasint(n), alpha, a, blasint(lda), x, 1, beta, y, 1)
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
