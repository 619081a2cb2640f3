import Dispatch
import Foundation
import Imaging
import Testing
import TestSupport

/// The read deadline: a read that does not return in time fails its image, the thread stuck in
/// it is abandoned and counted, and past `maxStalled` such threads reads fail at once.
@Suite struct BoundedFileReaderTests {
    /// A read that blocks until the test opens its gate (for paths containing "stall"), else
    /// returns the path's bytes.
    final class Gate: @unchecked Sendable {  // @unchecked: DispatchSemaphore is thread-safe; `calls` is guarded by `lock`.
        let semaphore = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var calls: [String] = []
        var read: BoundedFileReader.Read {
            { path, _ in
                self.lock.withLock { self.calls.append(path) }
                if path.contains("stall") { self.semaphore.wait() }
                return .success(Array(path.utf8))
            }
        }
        var callCount: Int { lock.withLock { calls.count } }
        func open(_ n: Int) { for _ in 0..<n { semaphore.signal() } }
    }

    /// Polls `condition` for up to `seconds` (an event the test waits for, bounded).
    func waitUntil(_ seconds: Double, _ what: String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw Timeout(what: what) }
            usleep(5_000)
        }
    }

    struct Timeout: Error { var what: String }

    @Test func aStalledReadFailsAtItsDeadlineAndItsThreadReturnsToThePool() throws {
        let gate = Gate()
        let reader = BoundedFileReader(maxStalled: 2, read: gate.read)
        #expect(try reader.read("ok.jpg", timeoutMilliseconds: 10_000) == Array("ok.jpg".utf8))
        #expect(throws: ImagingError.readTimeout(path: "stall.jpg", milliseconds: 50)) {
            try reader.read("stall.jpg", timeoutMilliseconds: 50)
        }
        #expect(reader.stalledReads == 1)
        let error = ImagingError.readTimeout(path: "stall.jpg", milliseconds: 50)
        #expect(error.kind == .readTimeout && error.kind.rawValue == "read-timeout")
        #expect(error.description == "stall.jpg: open and read did not finish within 50 ms (--read-timeout-ms): stalled storage? (a hung network mount); the read was abandoned")
        // Healthy reads go on meanwhile, on another helper.
        #expect(try reader.read("ok2.jpg", timeoutMilliseconds: 10_000) == Array("ok2.jpg".utf8))
        gate.open(1)
        try waitUntil(10, "the stalled read to return") { reader.stalledReads == 0 }
        #expect(reader.helperThreads == 2)
        // Its late result went nowhere; both helpers serve reads again, no third one starts.
        for i in 0..<20 { #expect(try reader.read("again\(i).jpg", timeoutMilliseconds: 10_000) == Array("again\(i).jpg".utf8)) }
        #expect(reader.helperThreads == 2)
    }

    /// Past `maxStalled` abandoned reads, every read fails at once without starting a thread,
    /// healthy paths too; when a stalled read returns, reads work again.
    @Test func pastTheStallLimitReadsFailAtOnce() throws {
        let gate = Gate()
        let reader = BoundedFileReader(maxStalled: 2, read: gate.read)
        for name in ["stall-1.jpg", "stall-2.jpg"] {
            #expect(throws: ImagingError.readTimeout(path: name, milliseconds: 20)) { try reader.read(name, timeoutMilliseconds: 20) }
        }
        let calls = gate.callCount
        #expect(throws: ImagingError.readsStalled(path: "ok.jpg", stalled: 2)) { try reader.read("ok.jpg", timeoutMilliseconds: 10_000) }
        #expect(gate.callCount == calls && reader.helperThreads == 2)
        #expect(ImagingError.readsStalled(path: "ok.jpg", stalled: 2).reason
                == "not read: 2 earlier reads are still stalled past --read-timeout-ms (stalled storage?); reads fail at once until one of them returns")
        gate.open(1)
        try waitUntil(10, "one stalled read to return") { reader.stalledReads == 1 }
        #expect(try reader.read("ok.jpg", timeoutMilliseconds: 10_000) == Array("ok.jpg".utf8))
        gate.open(1)
    }

    /// Many threads at once, real files: each read gets its own file's bytes, errors pass
    /// through as they are, and helpers are reused (never more than the callers).
    @Test func concurrentReadsGetTheirOwnBytesAndReuseHelpers() throws {
        let dir = NSTemporaryDirectory() + "magfleet-reads-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<50 { try Data("file \(i) ".utf8 + [UInt8](repeating: UInt8(i), count: i * 100)).write(to: URL(fileURLWithPath: "\(dir)/\(i)")) }
        let reader = BoundedFileReader()
        let wrong = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 6) { t in
            for round in 0..<100 {
                let i = (t * 7 + round) % 50
                let expected = Array("file \(i) ".utf8) + [UInt8](repeating: UInt8(i), count: i * 100)
                if (try? reader.read("\(dir)/\(i)", timeoutMilliseconds: 30_000)) != expected { wrong.set(wrong.get() + 1) }
            }
        }
        #expect(wrong.get() == 0)
        #expect(reader.helperThreads <= 6 && reader.stalledReads == 0)
        #expect(throws: ImagingError.missingFile(path: dir + "/none")) { try reader.read(dir + "/none", timeoutMilliseconds: 30_000) }
        #expect(FileManager.default.createFile(atPath: dir + "/empty", contents: nil))
        #expect(throws: ImagingError.emptyFile(path: dir + "/empty")) { try reader.read(dir + "/empty", timeoutMilliseconds: 30_000) }
    }

    /// A timeout of 0 reads on the calling thread, with no helper.
    @Test func noDeadlineReadsOnTheCallingThread() throws {
        let caller = pthread_self()
        let onCaller = Locked(false)
        let reader = BoundedFileReader { path, _ in
            onCaller.set(pthread_equal(pthread_self(), caller) != 0)
            return .success([1])
        }
        #expect(try reader.read("x", timeoutMilliseconds: 0) == [1])
        #expect(onCaller.get() && reader.helperThreads == 0)
        #expect(try reader.read("x", timeoutMilliseconds: 1_000) == [1])
        #expect(!onCaller.get() && reader.helperThreads == 1)
    }
}

/// The same through a real stall in the kernel: a FUSE filesystem whose read (or open) never
/// answers, as a hard-mounted NFS server that went away.
@Suite(.enabled(if: StallingFilesystem.available, "needs root, /dev/fuse and python3-fusepy (Deploy/install-deps.sh test)"))
struct StalledStorageReadTests {
    @Test func aReadStuckInTheKernelFailsItsImageNotItsCaller() throws {
        let dir = NSTemporaryDirectory() + "magfleet-fuse-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fs = try StallingFilesystem(directory: dir)
        defer { fs.unmount() }
        let face = try Fixture.data("decode/face420.jpg")
        for name in ["ok.jpg", "stall-read.jpg", "stall-open.jpg"] { try face.write(to: URL(fileURLWithPath: fs.backing + "/" + name)) }
        let reader = BoundedFileReader(maxStalled: 2)
        let mnt = fs.mountPoint
        #expect(try reader.read(mnt + "/ok.jpg", timeoutMilliseconds: 30_000) == Array(face))
        #expect(throws: ImagingError.readTimeout(path: mnt + "/stall-read.jpg", milliseconds: 200)) {
            try reader.read(mnt + "/stall-read.jpg", timeoutMilliseconds: 200)
        }
        #expect(throws: ImagingError.readTimeout(path: mnt + "/stall-open.jpg", milliseconds: 200)) {
            try reader.read(mnt + "/stall-open.jpg", timeoutMilliseconds: 200)
        }
        #expect(fs.log.contains("stalled read /stall-read.jpg") && fs.log.contains("stalled open /stall-open.jpg"), "\(fs.log)")
        #expect(reader.stalledReads == 2)
        // Two threads are stuck in the kernel: the next read fails at once, a healthy file too.
        #expect(throws: ImagingError.readsStalled(path: mnt + "/ok.jpg", stalled: 2)) {
            try reader.read(mnt + "/ok.jpg", timeoutMilliseconds: 30_000)
        }
        // The storage "comes back" (the server dies: the kernel fails what it held): the stuck
        // threads return, un-count themselves, and reads work again.
        fs.unmount()
        let deadline = Date().addingTimeInterval(30)
        while reader.stalledReads > 0, Date() < deadline { usleep(5_000) }
        #expect(reader.stalledReads == 0)
        let path = try Fixture.path("decode/face420.jpg")
        #expect(try reader.read(path, timeoutMilliseconds: 30_000) == Array(face))
    }
}
