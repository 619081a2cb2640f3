import Foundation
import Synchronization
internal import CPrefetch

/// The engine's fixed pool of threads for `Parallel.forEachPart`: `workers` threads that each
/// run one part of a pass while the calling thread runs part 0.
///
/// Why not `DispatchQueue.concurrentPerform`: each call costs ~9.5 µs of wall time here (a
/// 2-vCPU VM, measured with two 5-20 µs parts back to back), mostly waking a parked worker,
/// and the fast path makes ~300 passes per image, many of them 20-40 µs long at batch 1.
/// These workers spin on an atomic for a while after each pass (with the CPU's pause hint),
/// so the next pass starts in well under a microsecond; idle longer than `spinLimit` steps,
/// they sleep on a condition variable and cost nothing.
///
/// Sleeping is the textbook condition-variable handshake (count yourself in `sleepers`, then
/// check the generation under the lock and wait; the caller broadcasts under the lock when
/// anyone is counted). A first version that slept on a `DispatchSemaphore` signalled once per
/// counted sleeper hung within seconds under `ParallelTests` (every worker asleep, the caller
/// waiting); this one ran 10 x 4000 passes on four pools with 2000 sleeps and wake-ups each.
///
/// A pass needs the pool to itself: a second caller meanwhile (another thread's `embed`, or
/// a part that starts a pass of its own) is told so, and `Parallel` runs it on
/// `concurrentPerform` instead, so nothing waits on a pool that is busy.
final class PassPool: @unchecked Sendable {
    // @unchecked: `job` and `parts` are written only by the caller that holds `busy`, before it
    // publishes a pass by bumping `generation` (sequentially consistent, so a release); the
    // workers read them after loading the new generation (an acquire), and the caller clears
    // `job` only after every worker has reported the pass done through `unfinished`.

    /// Threads besides the caller's.
    let workers: Int
    private let generation = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let wakeUp = NSCondition()
    private var job: ((Int) -> Void)?
    private var parts = 0

    /// Pause steps a worker spins before it sleeps (a few hundred microseconds).
    private static let spinLimit = 4096

    init(workers: Int) {
        precondition(workers >= 1)
        self.workers = workers
        for index in 1...workers {
            let thread = Thread { [self] in serve(part: index) }
            thread.name = "magfleet-compute-\(index)"
            thread.start()
        }
    }

    /// Runs `body(part)` for every part in `0..<parts` (at most `workers + 1`) at once, part 0
    /// on the calling thread, and returns when all are done. Returns false, having run
    /// nothing, when another pass holds the pool.
    func run(parts: Int, _ body: @escaping (Int) -> Void) -> Bool {
        precondition(parts >= 1 && parts <= workers + 1, "\(parts) parts on a pool of \(workers) + 1 threads")
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        job = body
        self.parts = parts
        unfinished.store(workers, ordering: .relaxed)  // every worker reports, with a part or not
        generation.add(1, ordering: .sequentiallyConsistent)
        // A worker counts itself in `sleepers` before it checks the generation under the lock
        // and waits: either it is counted here, and woken under the lock (so not between its
        // check and its wait), or it sees this pass and does not sleep.
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            wakeUp.lock()
            wakeUp.broadcast()
            wakeUp.unlock()
        }
        body(0)
        var spins = 0
        while unfinished.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins < Self.spinLimit { magfleet_spin_pause() } else { sched_yield() }
        }
        job = nil
        busy.store(false, ordering: .releasing)
        return true
    }

    private func serve(part: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if spins < Self.spinLimit {
                    spins += 1
                    magfleet_spin_pause()
                } else {
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    wakeUp.lock()
                    while generation.load(ordering: .sequentiallyConsistent) == seen { wakeUp.wait() }
                    wakeUp.unlock()
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    spins = 0
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if part < parts { job?(part) }
            unfinished.subtract(1, ordering: .releasing)
        }
    }
}
