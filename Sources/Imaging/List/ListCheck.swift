import Base
import Dispatch
import Foundation

/// `magfleet images check`: reads a list as a run reads it (`ListReader`) and decodes and crops
/// every row's image, so that it fails exactly the rows a run would fail, with the same
/// categories (docs/lists.md). Streams: the list goes through in chunks of 4,096 rows, each
/// decoded on `threads` threads; memory holds one chunk and the failures.
public enum ListCheck {
    public struct Failure: Codable, Sendable, Equatable {
        public var line: Int
        public var path: String
        public var kind: String
        public var reason: String
    }

    public struct Report: Codable, Sendable {
        public var list: String
        public var entries: Int
        public var ok: Int
        /// Warnings that fail no row (a path listed twice is embedded twice), as "line N: what".
        public var warnings: [String]
        public var failures: [Failure]
        public var failuresByKind: [String: Int]
        public var resized: Int
        public var aligned: Int
        public var seconds: Double
        /// Every failure and warning as (line, text), in list order.
        public var problemLines: [(Int, String)] {
            let warned = warningLines.map { ($0.0, "warning: \($0.1)") }
            return (warned + failures.map { ($0.line, "\($0.path): \($0.reason)") }).sorted { $0.0 < $1.0 }
        }
        var warningLines: [(Int, String)] = []

        enum CodingKeys: String, CodingKey {
            case list, entries, ok, warnings, failures, failuresByKind, resized, aligned, seconds
        }
    }

    /// - Throws: `ImagingError.listUnreadable` when the list itself cannot be read.
    public static func run(list: String, pipeline: ImagePipeline, threads: Int) throws(ImagingError) -> Report {
        let start = DispatchTime.now()
        let reader = try ListReader(path: list)
        var failures: [Failure] = [], warnings: [(Int, String)] = []
        var resized = 0, aligned = 0, entries = 0
        var firstLine: [UInt64: Int] = [:]  // FNV-1a of a path -> its first line
        var chunk: [ListEntry] = []
        func check() {
            for (entry, result) in zip(chunk, checkAll(chunk, pipeline: pipeline, threads: threads)) {
                switch result {
                case .success(let geometry):
                    if geometry == .resized { resized += 1 }
                    if geometry == .aligned { aligned += 1 }
                case .failure(let error):
                    failures.append(Failure(line: entry.line, path: error.path, kind: error.kind.rawValue, reason: error.reason))
                }
            }
            chunk.removeAll(keepingCapacity: true)
        }
        while let entry = try reader.next() {
            entries += 1
            if entry.problem == nil {
                let key = FNV1a.hash(entry.path.utf8)
                if let first = firstLine[key] {
                    warnings.append((entry.line, "duplicate of line \(first): \(entry.path) (it is embedded twice)"))
                } else {
                    firstLine[key] = entry.line
                }
            }
            chunk.append(entry)
            if chunk.count == 4096 { check() }
        }
        check()
        var report = Report(
            list: list, entries: entries, ok: entries - failures.count,
            warnings: warnings.map { "line \($0.0): \($0.1)" }, failures: failures,
            failuresByKind: Dictionary(failures.map { ($0.kind, 1) }, uniquingKeysWith: +),
            resized: resized, aligned: aligned,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
        report.warningLines = warnings
        return report
    }

    /// Decodes every entry, in chunks of 256 spread over `threads` threads.
    static func checkAll(_ list: [ListEntry], pipeline: ImagePipeline, threads: Int)
        -> [Result<ImagePipeline.Geometry, ImagingError>] {
        let results = ResultSlots(count: list.count)
        let chunk = 256
        let chunks = (list.count + chunk - 1) / chunk
        let work: @Sendable (Int) -> Void = { c in
            for i in (c * chunk)..<min(list.count, (c + 1) * chunk) {
                results.set(i, Result { () throws(ImagingError) in try pipeline.crop(list[i]).1.geometry })
            }
        }
        if threads <= 1 {
            for c in 0..<chunks { work(c) }
        } else {
            let next = ResultSlots.Counter()
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                while true {
                    let c = next.increment()
                    if c >= chunks { break }
                    work(c)
                }
            }
        }
        return results.values
    }
}

/// One result slot per list entry, written by the decoding threads, each slot by exactly one.
final class ResultSlots: @unchecked Sendable {  // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var slots: [Result<ImagePipeline.Geometry, ImagingError>]

    init(count: Int) {
        slots = Array(repeating: .failure(.unreadable(path: "", reason: "not checked")), count: count)
    }

    func set(_ i: Int, _ value: Result<ImagePipeline.Geometry, ImagingError>) {
        lock.withLock { slots[i] = value }
    }

    var values: [Result<ImagePipeline.Geometry, ImagingError>] { lock.withLock { slots } }

    /// Hands out chunk numbers to the threads.
    final class Counter: @unchecked Sendable {  // @unchecked: every access holds `lock`.
        private let lock = NSLock()
        private var value = 0
        func increment() -> Int { lock.withLock { defer { value += 1 }; return value } }
    }
}
