internal import CZMQ
import Foundation

/// One libzmq socket. Use it from one thread only (libzmq sockets are not thread-safe), so it
/// is deliberately not Sendable. The socket closes with linger 0 when released.
public final class Socket {
    public enum Kind: Sendable {
        case router, dealer, rep, req, pair, push, pull
        var raw: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .rep: return ZMQ_REP
            case .req: return ZMQ_REQ
            case .pair: return ZMQ_PAIR
            case .push: return ZMQ_PUSH
            case .pull: return ZMQ_PULL
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    public let context: Context
    public let kind: Kind

    public init(_ context: Context, _ kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else {
            try check(-1, "zmq_socket")
            fatalError("unreachable")
        }
        handle = h
        self.context = context
        self.kind = kind
        try setInt(ZMQ_LINGER, 0, "ZMQ_LINGER")
    }

    deinit { zmq_close(handle) }

    // MARK: Options

    func setInt(_ option: Int32, _ value: Int32, _ name: String) throws {
        var v = value
        try check(zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size), "zmq_setsockopt", name)
    }

    func setBytes(_ option: Int32, _ value: [UInt8], _ name: String) throws {
        try value.withUnsafeBytes { raw in
            _ = try check(zmq_setsockopt(handle, option, raw.baseAddress, raw.count), "zmq_setsockopt", name)
        }
    }

    /// Largest inbound message; a peer that sends more is disconnected by libzmq.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        var v = bytes
        try check(zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size), "zmq_setsockopt", "ZMQ_MAXMSGSIZE")
    }

    /// The identity a ROUTER peer sees for this socket.
    public func setRoutingID(_ id: [UInt8]) throws { try setBytes(ZMQ_ROUTING_ID, id, "ZMQ_ROUTING_ID") }
    /// ROUTER: a new connection with a known routing id takes the old one over.
    public func setRouterHandover(_ on: Bool) throws { try setInt(ZMQ_ROUTER_HANDOVER, on ? 1 : 0, "ZMQ_ROUTER_HANDOVER") }
    /// Queue outbound messages only to completed connections.
    public func setImmediate(_ on: Bool) throws { try setInt(ZMQ_IMMEDIATE, on ? 1 : 0, "ZMQ_IMMEDIATE") }
    public func setSendHighWaterMark(_ n: Int32) throws { try setInt(ZMQ_SNDHWM, n, "ZMQ_SNDHWM") }
    public func setReceiveHighWaterMark(_ n: Int32) throws { try setInt(ZMQ_RCVHWM, n, "ZMQ_RCVHWM") }
    /// Reconnect interval and its exponential-backoff ceiling, in milliseconds.
    public func setReconnectInterval(_ ms: Int32, max: Int32) throws {
        try setInt(ZMQ_RECONNECT_IVL, ms, "ZMQ_RECONNECT_IVL")
        try setInt(ZMQ_RECONNECT_IVL_MAX, max, "ZMQ_RECONNECT_IVL_MAX")
    }

    /// Makes this socket a CURVE server with `secret`; ZAP requests go to domain `zapDomain`.
    public func makeCurveServer(secret: CurveKeyPair, zapDomain: String) throws {
        try setInt(ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER")
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(secret.secretKey.utf8), "ZMQ_CURVE_SECRETKEY")
        try setBytes(ZMQ_ZAP_DOMAIN, Array(zapDomain.utf8), "ZMQ_ZAP_DOMAIN")
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverKey` (Z85).
    public func makeCurveClient(keys: CurveKeyPair, serverKey: String) throws {
        try CurveKeyPair.validate(serverKey)
        try setBytes(ZMQ_CURVE_SERVERKEY, Array(serverKey.utf8), "ZMQ_CURVE_SERVERKEY")
        try setBytes(ZMQ_CURVE_PUBLICKEY, Array(keys.publicKey.utf8), "ZMQ_CURVE_PUBLICKEY")
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(keys.secretKey.utf8), "ZMQ_CURVE_SECRETKEY")
    }

    /// The endpoint last bound (resolves `tcp://127.0.0.1:*` to the chosen port).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Connections

    public func bind(_ endpoint: String) throws { try check(zmq_bind(handle, endpoint), "zmq_bind", endpoint) }
    public func connect(_ endpoint: String) throws { try check(zmq_connect(handle, endpoint), "zmq_connect", endpoint) }

    // MARK: Messages

    /// Sends `frames` as one multipart message. With `wait: false` a full queue throws
    /// a ZeroMQError whose `isWouldBlock` is true.
    public func send(_ frames: [[UInt8]], wait: Bool = false) throws {
        for (i, frame) in frames.enumerated() {
            var flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
            if i < frames.count - 1 { flags |= ZMQ_SNDMORE }
            try frame.withUnsafeBytes { raw in
                while true {
                    let rc = zmq_send(handle, raw.baseAddress, raw.count, flags)
                    if rc < 0 && zmq_errno() == magfleet_zmq_eintr() { continue }
                    try check(rc, "zmq_send")
                    return
                }
            }
        }
    }

    /// Receives one multipart message, or nil when none is queued (`wait: false`).
    public func receive(wait: Bool = false) throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            var rc: Int32
            repeat {
                rc = zmq_msg_recv(&message, handle, (wait || !frames.isEmpty) ? 0 : ZMQ_DONTWAIT)
            } while rc < 0 && zmq_errno() == magfleet_zmq_eintr()
            if rc < 0 && zmq_errno() == magfleet_zmq_eagain() && frames.isEmpty { return nil }
            try check(rc, "zmq_msg_recv")
            let size = zmq_msg_size(&message)
            if size > 0, let data = zmq_msg_data(&message) {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }
}

extension Socket {
    /// How long close waits to deliver queued messages (milliseconds; 0 drops them).
    public func setLinger(_ ms: Int32) throws { try setInt(ZMQ_LINGER, ms, "ZMQ_LINGER") }
}
