internal import CHDF5
import Foundation

/// An owned HDF5 file; its root group carries the attributes.
final class HDF5File {
    let id: hid_t
    let path: String

    private init(id: hid_t, path: String) {
        self.id = id
        self.path = path
    }

    deinit { H5Fclose(id) }

    /// Creates (truncating) a file.
    static func create(_ path: String) throws(FeatureStoreError) -> HDF5File {
        HDF5.initialize()
        let id = H5Fcreate(path, magfleet_H5F_ACC_TRUNC(), magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT())
        return HDF5File(id: try HDF5.check(id, "H5Fcreate", path: path), path: path)
    }

    /// Opens a file read-only. A file that is absent, not HDF5, or truncated gets its own error.
    static func open(_ path: String) throws(FeatureStoreError) -> HDF5File {
        HDF5.initialize()
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path: path) }
        let isHDF5 = H5Fis_hdf5(path)
        if isHDF5 <= 0 {
            _ = HDF5.takeErrorStack()
            throw .notHDF5(path: path)
        }
        // Without HDF5's file lock (an flock): magfleet's files appear complete (written under a
        // temporary name, then renamed), so a reader never races a writer, and a lock still held
        // on the file by someone else must not fail the read. One suite run in ten under load
        // failed a read of a just-written store with "unable to lock file, errno = 11"; which
        // holder it was (Foundation's Process does not leak descriptors to children) is not
        // pinned down.
        let access = H5Pcreate(magfleet_H5P_FILE_ACCESS())
        defer { if access >= 0 { H5Pclose(access) } }
        if access >= 0 { _ = H5Pset_file_locking(access, false, true) }
        let id = H5Fopen(path, magfleet_H5F_ACC_RDONLY(), access >= 0 ? access : magfleet_H5P_DEFAULT())
        if id < 0 { throw .unreadable(path: path, stack: HDF5.takeErrorStack()) }
        return HDF5File(id: id, path: path)
    }

    /// Flushes HDF5's buffers to the operating system.
    func flush() throws(FeatureStoreError) {
        try HDF5.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "H5Fflush", path: path)
    }

    func exists(_ name: String) -> Bool {
        let result = H5Lexists(id, name, magfleet_H5P_DEFAULT())
        if result < 0 { _ = HDF5.takeErrorStack() }
        return result > 0
    }

    /// Opens a dataset, or throws `missingDataset`.
    func dataset(_ name: String) throws(FeatureStoreError) -> HDF5Dataset {
        guard exists(name) else { throw .missingDataset(path: path, name: name) }
        let id = H5Dopen2(self.id, name, magfleet_H5P_DEFAULT())
        return HDF5Dataset(id: try HDF5.check(id, "H5Dopen2(\(name))", path: path), name: name, path: path)
    }

    /// Creates a dataset of `shape` whose first dimension can grow.
    ///
    /// - Parameters:
    ///   - chunkRows: rows per chunk (clamped to at least 1); other dimensions are whole.
    ///   - compress: adds the shuffle and deflate (level 4) filters.
    func createDataset(
        _ name: String, type: hid_t, shape: [Int], chunkRows: Int, compress: Bool
    ) throws(FeatureStoreError) -> HDF5Dataset {
        var max = shape.map { UInt64($0) }
        max[0] = HDF5.unlimited
        let space = try HDF5Dataspace.simple(shape, max: max, path: path)
        let plist = HDF5PropertyList(try HDF5.check(H5Pcreate(magfleet_H5P_DATASET_CREATE()), "H5Pcreate", path: path))
        var chunk = shape.map { UInt64(Swift.max($0, 1)) }
        chunk[0] = UInt64(Swift.max(chunkRows, 1))
        try HDF5.check(H5Pset_chunk(plist.id, Int32(chunk.count), chunk), "H5Pset_chunk", path: path)
        if compress {
            try HDF5.check(H5Pset_shuffle(plist.id), "H5Pset_shuffle", path: path)
            try HDF5.check(H5Pset_deflate(plist.id, 4), "H5Pset_deflate", path: path)
        }
        let id = H5Dcreate2(self.id, name, type, space.id, magfleet_H5P_DEFAULT(), plist.id, magfleet_H5P_DEFAULT())
        return HDF5Dataset(id: try HDF5.check(id, "H5Dcreate2(\(name))", path: path), name: name, path: path)
    }

    // MARK: Root attributes

    func hasAttribute(_ name: String) -> Bool {
        let result = H5Aexists(id, name)
        if result < 0 { _ = HDF5.takeErrorStack() }
        return result > 0
    }

    private func replaceAttribute(_ name: String, type: hid_t) throws(FeatureStoreError) -> HDF5Attribute {
        if hasAttribute(name) { try HDF5.check(H5Adelete(id, name), "H5Adelete(\(name))", path: path) }
        let space = try HDF5Dataspace.scalar(path: path)
        let attribute = H5Acreate2(id, name, type, space.id, magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT())
        return HDF5Attribute(try HDF5.check(attribute, "H5Acreate2(\(name))", path: path))
    }

    /// Writes a scalar variable-length UTF-8 string attribute (h5py reads a `str`).
    func setAttribute(_ name: String, _ value: String) throws(FeatureStoreError) {
        let type = try HDF5Type.utf8String(path: path)
        let attribute = try replaceAttribute(name, type: type.id)
        let status = value.withCString { cString -> herr_t in
            var pointer: UnsafePointer<CChar>? = cString
            return H5Awrite(attribute.id, type.id, &pointer)
        }
        try HDF5.check(status, "H5Awrite(\(name))", path: path)
    }

    /// Writes a scalar int64 attribute (h5py reads a numpy int64).
    func setAttribute(_ name: String, _ value: Int64) throws(FeatureStoreError) {
        let attribute = try replaceAttribute(name, type: magfleet_H5T_STD_I64LE())
        var v = value
        try HDF5.check(H5Awrite(attribute.id, magfleet_H5T_NATIVE_INT64(), &v), "H5Awrite(\(name))", path: path)
    }

    private func openAttribute(_ name: String) throws(FeatureStoreError) -> HDF5Attribute? {
        guard hasAttribute(name) else { return nil }
        return HDF5Attribute(try HDF5.check(H5Aopen(id, name, magfleet_H5P_DEFAULT()), "H5Aopen(\(name))", path: path))
    }

    /// Reads a string attribute, fixed or variable length; nil when absent.
    func stringAttribute(_ name: String) throws(FeatureStoreError) -> String? {
        guard let attribute = try openAttribute(name) else { return nil }
        let fileType = HDF5Type(try HDF5.check(H5Aget_type(attribute.id), "H5Aget_type(\(name))", path: path))
        guard fileType.typeClass == H5T_STRING else { throw .attributeType(path: path, name: name, expected: "string") }
        if fileType.isVariableString {
            let memory = try HDF5Type.utf8String(path: path)
            var pointer: UnsafeMutablePointer<CChar>? = nil
            try HDF5.check(H5Aread(attribute.id, memory.id, &pointer), "H5Aread(\(name))", path: path)
            defer { free(pointer) }
            return pointer.map { String(cString: $0) } ?? ""
        }
        let size = fileType.size
        var bytes = [UInt8](repeating: 0, count: size + 1)
        try HDF5.check(H5Aread(attribute.id, fileType.id, &bytes), "H5Aread(\(name))", path: path)
        let end = bytes.firstIndex(of: 0) ?? size
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    /// Reads an integer attribute (any integer type, converted by HDF5); nil when absent.
    func integerAttribute(_ name: String) throws(FeatureStoreError) -> Int64? {
        guard let attribute = try openAttribute(name) else { return nil }
        let fileType = HDF5Type(try HDF5.check(H5Aget_type(attribute.id), "H5Aget_type(\(name))", path: path))
        guard fileType.typeClass == H5T_INTEGER else { throw .attributeType(path: path, name: name, expected: "integer") }
        var value: Int64 = 0
        try HDF5.check(H5Aread(attribute.id, magfleet_H5T_NATIVE_INT64(), &value), "H5Aread(\(name))", path: path)
        return value
    }
}
