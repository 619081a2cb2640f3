internal import CHDF5
import Foundation

/// An owned HDF5 file; its root group carries the attributes.
///
/// A written file must never meet a failed write in HDF5's flush or close. With a full disk,
/// HDF5 1.10 (Debian's 1.10.8) fails the flush and leaves its metadata cache half-flushed, so
/// every later flush and the close fail too ("H5C_set_slist_enabled(): slist already
/// enabled?"); and a failed H5Fclose or H5Dclose frees the object but keeps its id registered,
/// so the library's atexit handler closes it again and crashes (SIGSEGV in H5F__close_cb under
/// exit()). So:
///
/// - `flush()` first reserves the disk space the flush can need (`posix_fallocate`): a full
///   disk is found there, `.noSpace`, before HDF5 writes anything;
/// - a written file owns the datasets it creates, and `close()` (flush, then close them and the
///   file, checked) is how it is finished;
/// - a written file dropped without `close()` is discarded: its descriptor is pointed at an
///   anonymous memory file first (`discard()`), so closing it writes nothing to the disk and
///   cannot fail. The caller deletes it.
final class HDF5File {
    let id: hid_t
    let path: String
    /// Created by this process; a file opened for reading writes nothing on close.
    let isWritable: Bool
    /// Datasets created in a written file: open until it closes (see the type's comment).
    private var created: [HDF5Dataset] = []
    private var isDiscarded = false
    private var isClosed = false
    /// Room reserved for what a flush allocates beyond the file's current end, besides the
    /// datasets' chunk caches: chunk index nodes, metadata at temporary addresses. (Measured: a
    /// flush of a 256-row shard at dim 512 grew the file by 741 KB, all of it chunks.)
    private static let metadataReserve = 256 << 10

    private init(id: hid_t, path: String, isWritable: Bool) {
        self.id = id
        self.path = path
        self.isWritable = isWritable
    }

    deinit {
        guard !isClosed else { return }
        discard()
        created.removeAll()
        H5Fclose(id)
    }

    /// Creates (truncating) a file.
    static func create(_ path: String) throws(FeatureStoreError) -> HDF5File {
        HDF5.initialize()
        let id = H5Fcreate(path, magfleet_H5F_ACC_TRUNC(), magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT())
        if id < 0, let refused = Self.refusedOpen(errno, path: path) {
            _ = HDF5.takeErrorStack()
            throw refused
        }
        return HDF5File(id: try HDF5.check(id, "H5Fcreate", path: path), path: path, isWritable: true)
    }

    /// Flushes what HDF5 buffers to the operating system; for a written file, after reserving
    /// the space the flush can take.
    ///
    /// - Throws: `.noSpace` when the disk cannot hold it (nothing is flushed then), `.io` when
    ///   the reservation fails otherwise.
    func flush() throws(FeatureStoreError) {
        if isWritable { try reserveFlushSpace() }
        try HDF5.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "H5Fflush", path: path)
    }

    /// Finishes a written file: flushes it, closes its datasets and itself, and gives back the
    /// space the flush reserved beyond the data. The caller holds none of its datasets now.
    func close() throws(FeatureStoreError) {
        precondition(isWritable && !isClosed && !isDiscarded, "close() finishes a file being written, once")
        try flush()
        var end: haddr_t = 0
        try HDF5.check(H5Fget_eoa(id, &end), "H5Fget_eoa", path: path)
        created.removeAll()
        let open = H5Fget_obj_count(id, UInt32(H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL))
        precondition(open == 0, "\(open) objects of \(path) are still open at close")
        isClosed = true
        try HDF5.check(H5Fclose(id), "H5Fclose", path: path)
        var info = stat()
        if stat(path, &info) == 0, info.st_size > off_t(end), truncate(path, off_t(end)) != 0 {
            throw .io(path: path, message: "cannot trim the space reserved for the flush: \(String(cString: strerror(errno)))")
        }
    }

    /// Abandons a written file: nothing more reaches the disk, so closing it and its datasets
    /// cannot fail (see the type's comment). HDF5's descriptor (the sec2 driver's) is pointed
    /// at an anonymous memory file that takes what is still buffered. The file on disk stays
    /// as it was, incomplete; the caller deletes it.
    func discard() {
        guard isWritable, !isDiscarded, !isClosed else { return }
        isDiscarded = true
        guard let descriptor = descriptor() else { return }
        let scratch = magfleet_memfd_create("magfleet-discarded")
        guard scratch >= 0 else { return }
        _ = dup2(scratch, descriptor)
        Glibc.close(scratch)
    }

    /// The sec2 driver's descriptor of this file (nil under another driver).
    private func descriptor() -> Int32? {
        let access = H5Fget_access_plist(id)
        defer { if access >= 0 { H5Pclose(access) } }
        var handle: UnsafeMutableRawPointer?
        guard access >= 0, H5Pget_driver(access) == magfleet_H5FD_SEC2(), H5Fget_vfd_handle(id, access, &handle) >= 0,
              let handle else {
            _ = HDF5.takeErrorStack()
            return nil
        }
        return handle.assumingMemoryBound(to: Int32.self).pointee
    }

    /// Allocates the file's blocks up to its current end plus what the flush may add: each
    /// dataset's chunk cache (chunks get their file space when flushed) and `metadataReserve`.
    private func reserveFlushSpace() throws(FeatureStoreError) {
        guard let descriptor = descriptor() else { return }
        var end: haddr_t = 0
        guard H5Fget_eoa(id, &end) >= 0 else {
            _ = HDF5.takeErrorStack()
            return
        }
        let reserve = created.reduce(Self.metadataReserve) { $0 + $1.bufferedBytesBound() }
        switch posix_fallocate(descriptor, 0, off_t(end) + off_t(reserve)) {
        case 0, EOPNOTSUPP, ENOSYS: return  // reserved, or a file system that cannot: flush unreserved
        case ENOSPC: throw .noSpace(path: path)
        case let code: throw .io(path: path, message: "cannot reserve space for HDF5's flush: \(String(cString: strerror(code)))")
        }
    }

    /// Opens a file read-only. A file that is absent, not HDF5, or truncated gets its own error.
    static func open(_ path: String) throws(FeatureStoreError) -> HDF5File {
        HDF5.initialize()
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path: path) }
        // HDF5 reports every failure to open as "not an HDF5 file": ask the system first, so that
        // a process out of descriptors says so (a valid shard is not "not HDF5").
        let probe = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard probe >= 0 else {
            let code = errno
            if let refused = refusedOpen(code, path: path) { throw refused }
            if code == ENOENT { throw .missingFile(path: path) }
            throw .io(path: path, message: "cannot open: \(String(cString: strerror(code)))")
        }
        Glibc.close(probe)
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
        if id < 0 {
            let code = errno
            let stack = HDF5.takeErrorStack()
            if let refused = refusedOpen(code, path: path) { throw refused }
            throw .unreadable(path: path, stack: stack)
        }
        return HDF5File(id: id, path: path, isWritable: false)
    }

    /// The error for an open(2) the system refused for want of descriptors (EMFILE, ENFILE).
    static func refusedOpen(_ code: Int32, path: String) -> FeatureStoreError? {
        switch code {
        case EMFILE:
            var limit = rlimit()
            return .tooManyOpenFiles(path: path, limit: getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(limit.rlim_cur) : nil)
        case ENFILE: return .tooManyOpenFiles(path: path, limit: nil)
        default: return nil
        }
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
        let dataset = HDF5Dataset(id: try HDF5.check(id, "H5Dopen2(\(name))", path: path), name: name, path: path)
        return isWritable ? adopt(dataset) : dataset
    }

    /// Creates a dataset of `shape` whose first dimension can grow. A dataset of fixed-size
    /// elements carries a Fletcher-32 checksum per chunk (the last filter, over the stored
    /// bytes), which HDF5 checks on each read: a changed byte fails the read
    /// (`FeatureStoreError.checksumMismatch`). HDF5 takes no filter on variable-length strings
    /// (it ignores the optional shuffle and deflate there, and refuses Fletcher-32).
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
        if H5Tis_variable_str(type) <= 0 {
            try HDF5.check(H5Pset_fletcher32(plist.id), "H5Pset_fletcher32", path: path)
        }
        let id = H5Dcreate2(self.id, name, type, space.id, magfleet_H5P_DEFAULT(), plist.id, magfleet_H5P_DEFAULT())
        return adopt(HDF5Dataset(id: try HDF5.check(id, "H5Dcreate2(\(name))", path: path), name: name, path: path))
    }

    /// Keeps a dataset created in this file open until the file closes (see the type's comment).
    func adopt(_ dataset: HDF5Dataset) -> HDF5Dataset {
        created.append(dataset)
        return dataset
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
