import Foundation

/// A read-only memory map of a whole file. Pages are read from disk only when touched, so the
/// tensors a model does not use (MagLinear's weight, optimizer state) never enter memory.
final class MappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw CheckpointError.io(path: path, reason: "is a directory") }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw CheckpointError.io(path: path, reason: "mmap: \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }

    var count: Int { bytes.count }

    /// Drops the pages wholly inside `range` from this process's memory (they are re-read from
    /// the file if touched again), so that a loaded tensor does not count twice in RSS.
    func release(_ range: Range<Int>) {
        guard let start = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (range.lowerBound + page - 1) / page * page, hi = range.upperBound / page * page
        if hi > lo { _ = madvise(UnsafeMutableRawPointer(mutating: start + lo), hi - lo, Int32(MADV_DONTNEED)) }
    }

    /// Little-endian integer at `offset`; the caller has checked the bounds.
    func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
