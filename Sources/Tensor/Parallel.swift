import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Splitting the memory-bound passes between the GEMMs (im2col with its fused BatchNorm, and
/// the output pass with bias, PReLU or the residual add) over the same number of threads
/// OpenBLAS uses: its threads idle during those passes, so one core would otherwise sit idle.
public enum Parallel {
    /// Runs `body(range)` over `0..<count` cut into at most `BLAS.threadCount` contiguous
    /// parts, concurrently. Parts are disjoint, so bodies that write only inside their range
    /// need no locking.
    public static func forEachPart(_ count: Int, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(BLAS.threadCount, count))
        if parts == 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            // The closure only reads shared inputs and writes disjoint ranges.
            nonisolated(unsafe) let run = body
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                run((count * part / parts)..<(count * (part + 1) / parts))
            }
        }
    }

    /// Keeps large activation buffers in the heap instead of mapping and unmapping them for
    /// every layer (glibc's default for blocks over 128 KiB), which costs a page fault per
    /// 4 KiB on every reuse. Process-wide; the engine calls it once.
    public static func keepLargeAllocationsInHeap() {
        #if canImport(Glibc)
        // <malloc.h>: M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3 (32 MiB is glibc's maximum).
        _ = glibcMallopt(-3, 32 << 20)
        _ = glibcMallopt(-1, 1 << 30)
        #endif
    }
}

#if canImport(Glibc)
/// glibc's mallopt, which the Glibc module does not export (<malloc.h> is not in it).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
