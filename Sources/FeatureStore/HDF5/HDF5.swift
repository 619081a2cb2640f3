internal import CHDF5
import Foundation

// The owned HDF5 wrapper the store is built on. Every hid_t lives in a final class that closes
// it in deinit; every C return code is converted in `check`, which reads HDF5's error stack with
// H5Ewalk2 (the automatic stderr printing is switched off per thread, in `HDF5.initialize()`).
//
// HDF5 builds differ in thread safety (Debian's serial build locks globally): handles are not Sendable,
// and one store file is used from one thread at a time.

/// Process-wide HDF5 set-up and the return-code check.
enum HDF5 {
    /// Opens the library once, and silences its stderr error printing on the calling thread:
    /// Debian's HDF5 is built thread-safe, where that setting is per thread.
    static func initialize() {
        _ = opened
        _ = magfleet_H5_silence_errors()
    }

    private static let opened: Void = { _ = H5open() }()

    /// Converts a negative HDF5 return value (hid_t or herr_t or htri_t) into
    /// `FeatureStoreError.hdf5`, naming the call, the file and HDF5's own error stack; a write
    /// that found the disk full is `.noSpace`, a read whose Fletcher-32 checksum does not match
    /// is `.checksumMismatch` (naming `dataset`).
    @discardableResult
    static func check<T: BinaryInteger>(_ value: T, _ function: String, path: String, dataset: String? = nil) throws(FeatureStoreError) -> T {
        if value >= 0 { return value }
        let stack = takeErrorStack()
        // The sec2 driver reports a failed write as "errno = 28, error message = '...'".
        if stack.contains("errno = \(ENOSPC),") { throw .noSpace(path: path) }
        if stack.contains("Fletcher32 checksum") { throw .checksumMismatch(path: path, dataset: dataset ?? function) }
        throw .hdf5(function: function, path: path, stack: stack)
    }

    /// The current error stack as "function: description" entries, innermost first; clears it.
    static func takeErrorStack() -> String {
        final class Sink { var lines: [String] = [] }
        let sink = Sink()
        withExtendedLifetime(sink) {
            magfleet_H5_walk_errors({ function, description, context in
                let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
                sink.lines.append("\(String(cString: function!)): \(String(cString: description!))")
            }, Unmanaged.passUnretained(sink).toOpaque())
        }
        return sink.lines.joined(separator: "; ")
    }

    static var unlimited: UInt64 { magfleet_H5S_UNLIMITED() }

    /// The names of the files HDF5 holds open in this process (for tests: what its atexit
    /// handler would have to close).
    static func openFileNames() -> [String] {
        let all = hid_t(H5F_OBJ_FILE | H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR)  // H5F_OBJ_ALL
        let count = H5Fget_obj_count(all, UInt32(H5F_OBJ_FILE))
        guard count > 0 else { return [] }
        var ids = [hid_t](repeating: -1, count: count)
        let found = H5Fget_obj_ids(all, UInt32(H5F_OBJ_FILE), count, &ids)
        return ids.prefix(max(0, found)).map { id in
            var name = [CChar](repeating: 0, count: 4096)
            let length = H5Fget_name(id, &name, name.count)
            return length > 0 ? String(cString: name) : "?"
        }
    }
}

/// The element types the store reads and writes.
enum HDF5Element {
    case float32, int64, int32, uint8

    var memoryType: hid_t {
        switch self {
        case .float32: magfleet_H5T_NATIVE_FLOAT()
        case .int64: magfleet_H5T_NATIVE_INT64()
        case .int32: magfleet_H5T_NATIVE_INT32()
        case .uint8: magfleet_H5T_NATIVE_UINT8()
        }
    }

    /// The little-endian type written to files (what h5py reports as <f4, <i8, <i4, |u1).
    var fileType: hid_t {
        switch self {
        case .float32: magfleet_H5T_IEEE_F32LE()
        case .int64: magfleet_H5T_STD_I64LE()
        case .int32: magfleet_H5T_STD_I32LE()
        case .uint8: magfleet_H5T_STD_U8LE()
        }
    }
}

/// Swift scalar types with an HDF5 element type.
protocol HDF5Scalar: Numeric { static var element: HDF5Element { get } }
extension Float: HDF5Scalar { static var element: HDF5Element { .float32 } }
extension Int64: HDF5Scalar { static var element: HDF5Element { .int64 } }
extension Int32: HDF5Scalar { static var element: HDF5Element { .int32 } }
extension UInt8: HDF5Scalar { static var element: HDF5Element { .uint8 } }

/// An owned datatype (from H5Tcopy / H5Dget_type / H5Aget_type).
final class HDF5Type {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { H5Tclose(id) }

    /// A variable-length, UTF-8, NUL-terminated string type: h5py reads it as `str` (with
    /// `.asstr()` on datasets).
    static func utf8String(path: String) throws(FeatureStoreError) -> HDF5Type {
        let type = HDF5Type(try HDF5.check(H5Tcopy(magfleet_H5T_C_S1()), "H5Tcopy", path: path))
        try HDF5.check(H5Tset_size(type.id, magfleet_H5T_VARIABLE()), "H5Tset_size", path: path)
        try HDF5.check(H5Tset_cset(type.id, H5T_CSET_UTF8), "H5Tset_cset", path: path)
        try HDF5.check(H5Tset_strpad(type.id, H5T_STR_NULLTERM), "H5Tset_strpad", path: path)
        return type
    }

    var typeClass: H5T_class_t { H5Tget_class(id) }
    var isVariableString: Bool { H5Tis_variable_str(id) > 0 }
    var size: Int { H5Tget_size(id) }
}

/// An owned dataspace.
final class HDF5Dataspace {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { H5Sclose(id) }

    static func simple(_ dims: [Int], max: [UInt64]? = nil, path: String) throws(FeatureStoreError) -> HDF5Dataspace {
        let current = dims.map { UInt64($0) }
        let id: hid_t
        if let max {
            id = H5Screate_simple(Int32(dims.count), current, max)
        } else {
            id = H5Screate_simple(Int32(dims.count), current, nil)
        }
        return HDF5Dataspace(try HDF5.check(id, "H5Screate_simple", path: path))
    }

    static func scalar(path: String) throws(FeatureStoreError) -> HDF5Dataspace {
        HDF5Dataspace(try HDF5.check(H5Screate(H5S_SCALAR), "H5Screate", path: path))
    }

    func dimensions(path: String) throws(FeatureStoreError) -> [Int] {
        let rank = Int(try HDF5.check(H5Sget_simple_extent_ndims(id), "H5Sget_simple_extent_ndims", path: path))
        var dims = [UInt64](repeating: 0, count: rank)
        if rank > 0 {
            try HDF5.check(H5Sget_simple_extent_dims(id, &dims, nil), "H5Sget_simple_extent_dims", path: path)
        }
        return dims.map { Int($0) }
    }

    /// Selects rows `start..<start+count` of a rank-1 or rank-2 space (all columns).
    func selectRows(_ start: Int, _ count: Int, columns: Int?, path: String) throws(FeatureStoreError) {
        var offset: [UInt64] = [UInt64(start)]
        var extent: [UInt64] = [UInt64(count)]
        if let columns { offset.append(0); extent.append(UInt64(columns)) }
        try HDF5.check(H5Sselect_hyperslab(id, H5S_SELECT_SET, offset, nil, extent, nil), "H5Sselect_hyperslab", path: path)
    }
}

/// An owned property list.
final class HDF5PropertyList {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { H5Pclose(id) }
}

/// An owned attribute.
final class HDF5Attribute {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { H5Aclose(id) }
}
