internal import CZMQ

/// The libzmq library this build links.
public enum ZeroMQLibrary {
    /// The run-time version, e.g. "4.3.4".
    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    /// Whether libzmq was built with CURVE security (libsodium or its tweetnacl copy).
    public static var hasCurve: Bool { zmq_has("curve") != 0 }
}
