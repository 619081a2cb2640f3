internal import CHDF5

/// The HDF5 library this build links.
public enum HDF5Library {
    /// The run-time version, e.g. "1.10.8", or nil when the library cannot report it.
    public static var version: String? {
        let v = Int(magfleet_H5_version())
        guard v >= 0 else { return nil }
        return "\(v / 10000).\(v / 100 % 100).\(v % 100)"
    }
}
