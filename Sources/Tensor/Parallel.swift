import Base
import Dispatch
internal import CPrefetch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The engine's own threads. Compute is synchronous: a pass is cut into `threadCount`
/// contiguous parts that run concurrently (on a `PassPool`, or `DispatchQueue.concurrentPerform`
/// when the pool is busy) and are all done when the call returns. While the engine runs
/// (`BLAS.withSingleThreadedKernels`), OpenBLAS is held at one thread and each part calls it
/// on its own core, so nothing nests.
public enum Parallel {
    private static let count = Atomic<Int>(0)

    /// How many parts a pass is cut into. Set by `setThreadCount`; until then, OpenBLAS's own
    /// default (all cores, or `OPENBLAS_NUM_THREADS`).
    public static var threadCount: Int {
        let n = count.load(ordering: .relaxed)
        return n > 0 ? n : max(1, BLAS.threadCount)
    }

    /// Sets the engine's compute threads: its own parts and OpenBLAS's thread count.
    public static func setThreadCount(_ n: Int) {
        BLAS.setThreadCount(n)
        count.store(n, ordering: .relaxed)
    }

    /// Runs `body(range)` over `0..<count` cut into at most `threadCount` contiguous parts,
    /// concurrently. Parts are disjoint, so bodies that write only inside their range need no
    /// locking.
    public static func forEachPart(_ count: Int, _ body: (Range<Int>) -> Void) {
        forEachPart(count, parts: threadCount, body)
    }

    /// `forEachPart` with an explicit number of parts (at most `count`).
    public static func forEachPart(_ count: Int, parts: Int, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(parts, count))
        if parts == 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            // The closure only reads shared inputs and writes disjoint ranges.
            nonisolated(unsafe) let run = body
            let part: @Sendable (Int) -> Void = { part in run((count * part / parts)..<(count * (part + 1) / parts)) }
            // The pool holds `part` only while it runs (`PassPool.run` lets go before returning).
            if pool(workers: parts - 1).run(parts: parts, part) { return }
            DispatchQueue.concurrentPerform(iterations: parts, execute: part)
        }
    }

    private static let pools = Mutex<[Int: PassPool]>([:])

    /// The pool with `workers` threads, started on first use and kept for the process (one per
    /// thread count asked for; an engine asks for one).
    private static func pool(workers: Int) -> PassPool {
        pools.withLock { pools in
            if let pool = pools[workers] { return pool }
            let pool = PassPool(workers: workers)
            pools[workers] = pool
            return pool
        }
    }

    /// `c = a × op(b)` (row-major, `a` is `m x k`, `op(b)` is `k x n`, `b` itself `n x k` when
    /// `transposeB`) split over `threadCount` parts, each a single-threaded `BLAS.sgemm` on its
    /// own slice of `c`: rows when `m` is the larger side, columns otherwise. Call it inside
    /// `BLAS.withSingleThreadedKernels`.
    public static func sgemm(
        transposeB: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        nonisolated(unsafe) let a = a, b = b, c = c
        // Slices of at least 16 rows or 64 columns: below that a part costs more than it saves.
        if m >= n {
            forEachPart(m, parts: min(threadCount, max(1, m / 16))) { rows in
                BLAS.sgemm(transposeB: transposeB, m: rows.count, n: n, k: k, a: a + rows.lowerBound * lda, lda: lda,
                           b: b, ldb: ldb, beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
            }
        } else {
            forEachPart(n, parts: min(threadCount, max(1, n / 64))) { cols in
                let slice = transposeB ? b + cols.lowerBound * ldb : b + cols.lowerBound
                BLAS.sgemm(transposeB: transposeB, m: m, n: cols.count, k: k, a: a, lda: lda, b: slice, ldb: ldb,
                           beta: beta, c: c + cols.lowerBound, ldc: ldc)
            }
        }
    }

    /// Asks the kernel to back the 2 MiB-aligned part of `[start, start + bytes)` with
    /// transparent huge pages (`madvise(MADV_HUGEPAGE)`, for systems whose THP mode is
    /// `madvise`, Debian's default). For large buffers read in long sweeps (the Winograd
    /// weights, 4x the 3x3 weights, and the transformed tiles): one TLB entry per 2 MiB instead
    /// of per 4 KiB (+1.4% img/s on iresnet100 in an A/B of three runs each, within this
    /// machine's noise). Call it before the pages are first written; a no-op where THP is off.
    public static func adviseHugePages(_ start: UnsafeMutableRawPointer, bytes: Int) {
        #if canImport(Glibc)
        let huge = 2 << 20
        let first = (Int(bitPattern: start) + huge - 1) & ~(huge - 1)
        let end = (Int(bitPattern: start) + bytes) & ~(huge - 1)
        if end > first, let p = UnsafeMutableRawPointer(bitPattern: first) {
            _ = madvise(p, end - first, 14)  // MADV_HUGEPAGE (not exported by the Glibc module)
        }
        #endif
    }

    /// Keeps large activation buffers in the heap instead of mapping and unmapping them for
    /// every layer (glibc's default for blocks over 128 KiB), which costs a page fault per
    /// 4 KiB on every reuse. Process-wide; the engine calls it once.
    public static func keepLargeAllocationsInHeap() {
        // 32 MiB is glibc's largest mmap threshold (CPrefetch/shim.h; a no-op off glibc).
        _ = magfleet_keep_large_allocations_in_heap(32 << 20, 1 << 30)
    }
}
