import Foundation

/// Set once by a signal (or a test); polled by the loops between iterations.
public final class StopFlag: @unchecked Sendable {  // @unchecked: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value = false
    private var sources: [DispatchSourceSignal] = []

    public init() {}

    /// A flag set by any of `signals` (their default action is disabled).
    public convenience init(signals: [Int32]) {
        self.init()
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.set() }
            source.resume()
            sources.append(source)
        }
    }

    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}
