import Foundation

/// A ZAP (ZeroMQ Authentication Protocol, RFC 27) handler that admits a CURVE client only if
/// its public key is in an allowlist. It runs on its own thread with its own REP socket bound
/// to `inproc://zeromq.zap.01` in `context`; CURVE server sockets of that context consult it.
/// Create it before binding the server socket; `stop()` (or deinit) joins the thread.
public final class ZAPHandler: @unchecked Sendable {  // @unchecked: state is the lock-guarded flag; the socket lives on the thread.
    /// Called on the handler thread for every decision: (Z85 public key, peer address, admitted).
    public typealias Observer = @Sendable (_ publicKey: String, _ address: String, _ admitted: Bool) -> Void

    private let lock = NSLock()
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)
    private var running = false

    public init(context: Context, allowedPublicKeys: Set<String>, observer: Observer? = nil) throws {
        let allowedRaw = Set(try allowedPublicKeys.map { try CurveKeyPair.rawBytes(ofZ85: $0) })
        let socket = try Socket(context, .rep)
        try socket.bind("inproc://zeromq.zap.01")
        let box = SocketBox(socket)
        running = true
        let thread = Thread { [self] in
            self.serve(box.take(), allowed: allowedRaw, observer: observer)
            self.done.signal()
        }
        thread.name = "magfleet-zap"
        thread.start()
    }

    private var shouldStop: Bool { lock.withLock { stopping } }

    private func serve(_ socket: Socket, allowed: Set<[UInt8]>, observer: Observer?) {
        let poller = Poller()
        while !shouldStop {
            guard let ready = try? poller.readable([socket], timeoutMilliseconds: 100), ready[0] else { continue }
            guard let frames = try? socket.receive() else { continue }
            // Request: version, request id, domain, address, routing id, mechanism, credentials...
            guard frames.count >= 6 else { continue }
            let version = frames[0], requestID = frames[1]
            let address = String(decoding: frames[3], as: UTF8.self)
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            var admitted = false
            var key = ""
            if mechanism == "CURVE", frames.count >= 7, frames[6].count == 32 {
                key = CurveKeyPair.z85(ofRaw: frames[6])
                admitted = allowed.contains(frames[6])
            }
            observer?(key, address, admitted)
            let reply: [[UInt8]] = [
                version, requestID,
                Array((admitted ? "200" : "400").utf8),
                Array((admitted ? "OK" : "public key not in allowlist").utf8),
                admitted ? Array(key.utf8) : [],
                [],
            ]
            try? socket.send(reply, wait: true)
        }
    }

    /// Stops the handler thread and waits for it.
    public func stop() {
        let wasRunning: Bool = lock.withLock {
            let r = running
            stopping = true
            running = false
            return r
        }
        if wasRunning { done.wait() }
    }

    deinit { stop() }
}

/// Hands a socket to the one thread that will use it from then on.
final class SocketBox: @unchecked Sendable {  // @unchecked: taken exactly once, by the new owner thread.
    private var socket: Socket?
    init(_ socket: Socket) { self.socket = socket }
    func take() -> Socket {
        guard let s = socket else { preconditionFailure("socket already taken") }
        socket = nil
        return s
    }
}
