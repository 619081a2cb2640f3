import Dispatch
import Foundation

/// Reads image files with a deadline, so that one read stuck in the kernel (a hard-mounted NFS
/// server gone away, a FUSE daemon that never answers) fails its image, never its caller.
///
/// Such a read cannot be interrupted, so the open and the read run on a helper thread and the
/// caller waits at most `timeoutMilliseconds` for them: then it gets `.readTimeout` and the
/// helper is abandoned, *stalled*: it returns to the pool if the storage ever answers, or stays
/// stuck. At most `maxStalled` helpers are stalled at once; while that many are, every read
/// fails at once with `.readsStalled` instead of abandoning one more thread, so a dead mount
/// costs `maxStalled` threads, not one per image.
///
/// Helpers are reused (an idle one takes the next read; a new one starts only when all are
/// busy), so there are never more than the concurrent callers plus `maxStalled`. A read costs
/// two semaphore hand-offs on top of the read itself (docs/performance.md). A timeout of 0
/// reads on the calling thread, with no deadline.
public final class BoundedFileReader: @unchecked Sendable {  // @unchecked: `idle`, `stalled`, `helpers` and each Job's state are guarded by `lock`.
    /// How one file is read: `ImageDecoder.readFile` (tests inject a read that stalls).
    public typealias Read = @Sendable (_ path: String, _ maxBytes: Int) -> Result<[UInt8], ImagingError>

    /// The process's reader: every image read of magfleet goes through it, so the bound on
    /// stalled threads is the process's.
    public static let shared = BoundedFileReader()
    public static let defaultMaxStalled = 4
    /// The default deadline of the commands (`--read-timeout-ms`).
    public static let defaultTimeoutMilliseconds = 30_000

    public let maxStalled: Int
    private let perform: Read
    private let lock = NSLock()
    private var idle: [Helper] = []
    private var stalled = 0
    private var helpers = 0

    public init(maxStalled: Int = defaultMaxStalled,
                read: @escaping Read = { path, maxBytes in
                    Result { () throws(ImagingError) in try ImageDecoder.readFile(path, maxBytes: maxBytes) }
                }) {
        precondition(maxStalled >= 1, "maxStalled must be at least 1")
        self.maxStalled = maxStalled
        self.perform = read
    }

    /// Reads still stuck past their deadline (their helper threads abandoned).
    public var stalledReads: Int { lock.withLock { stalled } }
    /// Helper threads started so far, stalled ones included.
    public var helperThreads: Int { lock.withLock { helpers } }

    /// Reads the file at `path` whole (`ImageDecoder.readFile`), waiting at most
    /// `timeoutMilliseconds` for the open and the read together (0: no deadline, on this thread).
    /// - Throws: `ImagingError`: what the read threw, `.readTimeout` past the deadline,
    ///   `.readsStalled` at once while `maxStalled` reads are stuck.
    public func read(_ path: String, maxBytes: Int = .max, timeoutMilliseconds: Int) throws(ImagingError) -> [UInt8] {
        guard timeoutMilliseconds > 0 else { return try perform(path, maxBytes).get() }
        let job = Job(path: path, maxBytes: maxBytes)
        lock.lock()
        if stalled >= maxStalled {
            let n = stalled
            lock.unlock()
            throw .readsStalled(path: path, stalled: n)
        }
        let reused = idle.popLast()
        if reused == nil { helpers += 1 }
        lock.unlock()
        (reused ?? Helper(reader: self)).start(job)
        if job.done.wait(timeout: .now() + .milliseconds(timeoutMilliseconds)) == .timedOut {
            lock.lock()
            // The helper may have finished between the timeout and here: then the result stands.
            if job.result == nil {
                job.abandoned = true
                stalled += 1
            }
            let result = job.result
            lock.unlock()
            guard let result else { throw .readTimeout(path: path, milliseconds: timeoutMilliseconds) }
            return try result.get()
        }
        return try lock.withLock { job.result! }.get()
    }

    /// Called by a helper when its read returned: hands the result over (or, for an abandoned
    /// read, drops it and un-counts the stall) and makes the helper idle again.
    fileprivate func finished(_ job: Job, _ result: Result<[UInt8], ImagingError>, by helper: Helper) {
        let abandoned: Bool = lock.withLock {
            if job.abandoned { stalled -= 1 } else { job.result = result }
            idle.append(helper)
            return job.abandoned
        }
        if !abandoned { job.done.signal() }
    }

    deinit { for helper in idle { helper.stop() } }

    /// One read: its input, and its result or abandonment (guarded by the reader's lock).
    fileprivate final class Job: @unchecked Sendable {  // @unchecked: `result` and `abandoned` are guarded by the reader's lock.
        let path: String
        let maxBytes: Int
        let done = DispatchSemaphore(value: 0)
        var result: Result<[UInt8], ImagingError>?
        var abandoned = false

        init(path: String, maxBytes: Int) {
            self.path = path
            self.maxBytes = maxBytes
        }
    }

    /// A thread that runs one read at a time. Its `job` is set by the one caller that took it
    /// from the idle list, before `wake` is signalled, and read by the thread after it; woken
    /// without a job, the thread ends (the reader is gone).
    fileprivate final class Helper: @unchecked Sendable {  // @unchecked: `job` is handed over through `wake` (see above).
        private let wake = DispatchSemaphore(value: 0)
        private var job: Job?

        init(reader: BoundedFileReader) {
            let perform = reader.perform
            let thread = Thread { [self, weak reader] in
                while true {
                    wake.wait()
                    guard let job = self.job else { return }
                    self.job = nil
                    let result = perform(job.path, job.maxBytes)
                    guard let reader else { return }
                    reader.finished(job, result, by: self)
                }
            }
            thread.name = "magfleet-read"
            thread.stackSize = 1 << 19
            thread.start()
        }

        func start(_ job: Job) {
            self.job = job
            wake.signal()
        }

        func stop() { wake.signal() }
    }
}
