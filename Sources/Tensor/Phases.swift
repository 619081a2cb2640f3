import Dispatch
import Synchronization

/// Where the forward pass spends its time, by phase and layer class (`magfleet bench
/// --phases`). Off unless `Phases.isEnabled`: then each timed step costs one relaxed atomic
/// load and nothing else, so the timers stay out of the hot path.
///
/// Steps are timed on the calling thread around whole parallel passes (every part included),
/// so the times add up to wall time; FLOPs are the multiply-adds (x2) the GEMMs issue.
public enum Phases {
    /// A phase of one layer class: e.g. `("Winograd GEMMs", "14x14")`.
    public struct Key: Hashable, Sendable, Comparable {
        public var phase: String
        public var layers: String

        public init(_ phase: String, _ layers: String) {
            self.phase = phase
            self.layers = layers
        }

        public static func < (a: Key, b: Key) -> Bool { (a.phase, a.layers) < (b.phase, b.layers) }
    }

    /// The time and GEMM FLOPs recorded for one key.
    public struct Total: Sendable {
        public var nanoseconds: UInt64 = 0
        public var flops: Double = 0
        public var calls = 0
    }

    private static let enabled = Atomic<Bool>(false)
    private static let totals = Mutex<[Key: Total]>([:])

    /// Whether steps are being timed.
    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Starts (after clearing) or stops the recording.
    public static func record(_ on: Bool) {
        if on { totals.withLock { $0 = [:] } }
        enabled.store(on, ordering: .relaxed)
    }

    /// What was recorded since `record(true)`.
    public static func snapshot() -> [Key: Total] { totals.withLock { $0 } }

    /// Runs `body`, timing it under `phase` and `layers` when recording; `flops` is what it
    /// issues to the GEMMs (0 for a pass without one).
    @inline(__always)
    public static func measure<R>(_ phase: StaticString, _ layers: @autoclosure () -> String, flops: @autoclosure () -> Double = 0,
                                  _ body: () throws -> R) rethrows -> R {
        guard isEnabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        let key = Key("\(phase)", layers()), f = flops()
        totals.withLock {
            $0[key, default: Total()].nanoseconds += elapsed
            $0[key, default: Total()].flops += f
            $0[key, default: Total()].calls += 1
        }
        return result
    }
}
