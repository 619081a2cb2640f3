internal import CZMQ

/// Waits until some of a set of sockets have a message to read.
public struct Poller {
    public init() {}

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns, per socket, whether it
    /// is readable. An interrupted wait (EINTR, e.g. a signal) returns all false.
    public func readable(_ sockets: [Socket], timeoutMilliseconds: Int) throws -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        if rc < 0 && zmq_errno() == magfleet_zmq_eintr() { return Array(repeating: false, count: sockets.count) }
        try check(rc, "zmq_poll")
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }
}
