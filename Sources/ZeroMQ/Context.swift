internal import CZMQ

/// A libzmq context. Thread-safe (libzmq guarantees it); sockets made from it are not.
public final class Context: @unchecked Sendable {  // @unchecked: zmq contexts are thread-safe.
    let handle: UnsafeMutableRawPointer

    public init() throws {
        guard let h = zmq_ctx_new() else {
            try check(-1, "zmq_ctx_new")
            fatalError("unreachable")
        }
        handle = h
    }

    deinit {
        // Every socket holds a strong reference to its context, so all are closed by now.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == magfleet_zmq_eintr() {}
    }
}
