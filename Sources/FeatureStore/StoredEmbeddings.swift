import Foundation

/// A store's embeddings as a scan reads them: runs of consecutive rows, each `rows x dim`
/// float32 row-major, either mapped from the file (no copy: the page cache is the buffer) or,
/// where HDF5 keeps them in a form that cannot be mapped (compressed chunks), read once into
/// one owned buffer.
///
/// Sendable: the memory is read-only after init, and the mapping or buffer lives as long as
/// this object.
public final class StoredEmbeddings: @unchecked Sendable {
    /// One run of consecutive rows starting at store row `firstRow`.
    struct Block: @unchecked Sendable {  // @unchecked: points into read-only memory the owner keeps alive.
        let firstRow: Int
        let rows: Int
        let base: UnsafePointer<Float>
    }

    public let dim: Int
    /// Store rows in all.
    public let count: Int
    /// Whether the rows are mapped from the file (true) or were read into memory.
    public let isMapped: Bool
    let blocks: [Block]
    /// Rows per block when all blocks but the last have that many (for `row(_:)`).
    private let blockRows: Int
    private let mapping: (address: UnsafeMutableRawPointer, length: Int)?
    private let owned: UnsafeMutableBufferPointer<Float>?

    /// Maps `layout`'s bytes from the file at `path`.
    init(mapping path: String, layout: HDF5RawLayout, count: Int, dim: Int) throws(FeatureStoreError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, message: "open for mapping: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: path, message: "fstat: \(String(cString: strerror(errno)))") }
        let length = Int(info.st_size)
        let rowBytes = dim * 4
        var runs: [(offset: Int, firstRow: Int, rows: Int)] = []
        switch layout {
        case let .contiguous(offset, bytes):
            runs = [(offset, 0, bytes / rowBytes)]
            blockRows = count
        case let .chunks(rows, offsets):
            runs = offsets.enumerated().map { k, offset in (offset, k * rows, min(rows, count - k * rows)) }
            blockRows = rows
        }
        for run in runs where run.offset < 0 || run.offset + run.rows * rowBytes > length {
            throw .inconsistent(path: path, detail: "/embeddings rows \(run.firstRow)..<\(run.firstRow + run.rows) lie past the end of the file")
        }
        guard let address = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), address != MAP_FAILED else {
            throw .io(path: path, message: "mmap of \(length) bytes: \(String(cString: strerror(errno)))")
        }
        mapping = (address, length)
        owned = nil
        isMapped = true
        self.dim = dim
        self.count = count
        blocks = runs.map { run in
            Block(firstRow: run.firstRow, rows: run.rows,
                  base: UnsafePointer((address + run.offset).assumingMemoryBound(to: Float.self)))
        }
    }

    /// Takes ownership of `buffer` (`count x dim` floats, allocated with `allocate`).
    init(owning buffer: UnsafeMutableBufferPointer<Float>, count: Int, dim: Int) {
        precondition(buffer.count >= count * dim, "buffer smaller than its rows")
        owned = buffer
        mapping = nil
        isMapped = false
        self.dim = dim
        self.count = count
        blockRows = max(1, count)
        blocks = count == 0 ? [] : [Block(firstRow: 0, rows: count, base: UnsafePointer(buffer.baseAddress!))]
    }

    /// Copies `values` (`count x dim`).
    convenience init(copying values: [Float], dim: Int) {
        let count = dim > 0 ? values.count / dim : 0
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, count * dim))
        _ = buffer.initialize(from: values.prefix(count * dim))
        self.init(owning: buffer, count: count, dim: dim)
    }

    deinit {
        if let mapping { munmap(mapping.address, mapping.length) }
        owned?.deallocate()
    }

    /// Row `row`'s `dim` values.
    public func row(_ row: Int) -> UnsafeBufferPointer<Float> {
        precondition(row >= 0 && row < count, "row \(row) out of 0..<\(count)")
        let block = blocks[row / blockRows]
        return UnsafeBufferPointer(start: block.base + (row - block.firstRow) * dim, count: dim)
    }

    /// The blocks cut into pieces of at most `rows` rows, in row order.
    func pieces(ofAtMost rows: Int) -> [Block] {
        var out: [Block] = []
        for block in blocks {
            var start = 0
            while start < block.rows {
                let n = min(rows, block.rows - start)
                out.append(Block(firstRow: block.firstRow + start, rows: n, base: block.base + start * dim))
                start += n
            }
        }
        return out
    }
}
