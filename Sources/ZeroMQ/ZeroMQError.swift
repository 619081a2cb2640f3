internal import CZMQ

/// A failed libzmq call, with the function, its context and zmq_strerror's text.
public enum ZeroMQError: Error, CustomStringConvertible, Equatable {
    case call(function: String, context: String, errno: Int32, message: String)
    case invalidKey(String)
    case keyFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .call(function, context, errno, message):
            return "\(function)(\(context)) failed: \(message) (errno \(errno))"
        case let .invalidKey(reason):
            return "invalid CURVE key: \(reason)"
        case let .keyFile(path, reason):
            return "CURVE key file \(path): \(reason)"
        }
    }

    /// Whether the call failed only because it would have blocked.
    public var isWouldBlock: Bool {
        if case let .call(_, _, errno, _) = self { return errno == magfleet_zmq_eagain() }
        return false
    }
}

/// Converts a libzmq return code; the one place C errors become Swift errors.
@discardableResult
func check(_ rc: Int32, _ function: String, _ context: @autoclosure () -> String = "") throws -> Int32 {
    if rc >= 0 { return rc }
    let code = zmq_errno()
    throw ZeroMQError.call(function: function, context: context(), errno: code, message: String(cString: zmq_strerror(code)))
}
