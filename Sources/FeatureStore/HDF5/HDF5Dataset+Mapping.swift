internal import CHDF5
import Foundation

/// Where a dataset's elements lie in its file, when they lie there as plain little-endian
/// values that can be mapped instead of read.
enum HDF5RawLayout: Equatable {
    /// One run of `bytes` bytes at `offset`.
    case contiguous(offset: Int, bytes: Int)
    /// Chunks of `rows` full rows each (the last may extend past the dataset's end), the k-th
    /// holding rows `k*rows ..< (k+1)*rows`, at `offsets[k]`. Only chunks whose filters leave
    /// the bytes as they are (none, or Fletcher-32, whose 4-byte checksum follows the data).
    case chunks(rows: Int, offsets: [Int])
}

extension HDF5Dataset {
    /// The raw layout of a rank-2 float32 little-endian dataset, or nil when it cannot be
    /// mapped: compressed or shuffled chunks, chunks split across columns, unallocated space,
    /// or a big-endian type. Reading the mapped bytes skips HDF5's Fletcher-32 verification.
    func rawLayout() throws(FeatureStoreError) -> HDF5RawLayout? {
        let stored = try type()
        guard H5Tget_class(stored.id) == H5T_FLOAT, H5Tget_size(stored.id) == 4, H5Tget_order(stored.id) == H5T_ORDER_LE else { return nil }
        let dims = try shape()
        guard dims.count == 2, dims[0] > 0, dims[1] > 0 else { return nil }
        let plist = HDF5PropertyList(try HDF5.check(H5Dget_create_plist(id), "H5Dget_create_plist", path: path))
        let rowBytes = dims[1] * 4
        switch H5Pget_layout(plist.id) {
        case H5D_CONTIGUOUS:
            let offset = H5Dget_offset(id)
            guard offset != haddr_t.max else { _ = HDF5.takeErrorStack(); return nil }
            return .contiguous(offset: Int(offset), bytes: dims[0] * rowBytes)
        case H5D_CHUNKED:
            let filters = H5Pget_nfilters(plist.id)
            guard filters >= 0 else { _ = HDF5.takeErrorStack(); return nil }
            for i in 0..<UInt32(filters) {
                var flags: UInt32 = 0, elements = 0, config: UInt32 = 0
                var values = [UInt32](repeating: 0, count: 8)
                let filter = H5Pget_filter2(plist.id, i, &flags, &elements, &values, 0, nil, &config)
                guard filter == 3 else { return nil }  // H5Z_FILTER_FLETCHER32
            }
            guard let chunk = try chunkShape(), chunk.count == 2, chunk[1] == dims[1], chunk[0] > 0 else { return nil }
            let rows = chunk[0]
            let chunkCount = (dims[0] + rows - 1) / rows
            var offsets: [Int] = []
            offsets.reserveCapacity(chunkCount)
            for k in 0..<chunkCount {
                var coordinates: [UInt64] = [UInt64(k * rows), 0]
                var mask: UInt32 = 0
                var address: haddr_t = 0, size: hsize_t = 0
                guard H5Dget_chunk_info_by_coord(id, &coordinates, &mask, &address, &size) >= 0 else {
                    _ = HDF5.takeErrorStack()
                    return nil
                }
                guard address != haddr_t.max, Int(size) >= rows * rowBytes else { return nil }
                offsets.append(Int(address))
            }
            return .chunks(rows: rows, offsets: offsets)
        default:
            return nil
        }
    }
}
