import Foundation

/// Everything that can go wrong reading, writing, merging or searching a feature store; each
/// case names the file (and dataset, shard, index or line) so that an operator can act on it.
public enum FeatureStoreError: Error, CustomStringConvertible, Equatable {
    /// An HDF5 call failed; `stack` is HDF5's own error stack, innermost first.
    case hdf5(function: String, path: String, stack: String)
    case missingFile(path: String)
    /// The file does not start with the HDF5 signature.
    case notHDF5(path: String)
    /// The file has the HDF5 signature but cannot be opened (truncated or corrupt).
    case unreadable(path: String, stack: String)
    /// An HDF5 file that is not a magfleet store (made by another tool).
    case notAStore(path: String, reason: String)
    case unsupportedVersion(path: String, found: Int64, supported: Int64)
    /// The completeness mark is absent: a writer stopped before finishing this file.
    case incomplete(path: String)
    case wrongKind(path: String, expected: String, found: String)
    case missingDataset(path: String, name: String)
    case datasetType(path: String, name: String, expected: String)
    case attributeType(path: String, name: String, expected: String)
    /// Datasets or attributes of one file disagree (e.g. /paths has fewer rows than /embeddings).
    case inconsistent(path: String, detail: String)
    case rowRange(path: String, dataset: String, start: Int, count: Int, rows: Int)
    /// A shard differs from the first shard in a field that must match (fingerprint, dim, preset...).
    case shardMismatch(path: String, field: String, expected: String, found: String)
    case duplicateIndex(index: Int64, first: String, second: String)
    case missingIndex(index: Int64, total: Int64)
    case indexOutOfRange(path: String, index: Int64, total: Int64)
    case noShards
    /// A caller passed rows that break the schema (wrong embedding length, bad label...).
    case invalidRows(String)
    case io(path: String, message: String)
    /// A write found the file system full. A writer leaves nothing behind (its temporary file
    /// is removed), so running again once there is room starts from a clean state.
    case noSpace(path: String)
    /// A chunk of `dataset` does not match its Fletcher-32 checksum: the file's bytes changed
    /// after it was written (disk, copy or hand edit).
    case checksumMismatch(path: String, dataset: String)
    /// A shard row's embedding holds NaN or an infinity: no store is made from it.
    case nonFinite(path: String, row: Int, index: Int64)
    /// A text or binary import could not be parsed.
    case parse(path: String, line: Int?, message: String)
    /// A query names a path or index that is not in the store, or has the wrong dimension.
    case badQuery(String)
    /// The operating system refused to open another file: this process has `limit` open
    /// (EMFILE, `ulimit -n`), or the whole system has run out (ENFILE, `limit` nil).
    case tooManyOpenFiles(path: String, limit: Int?)
    /// A shard's rows carry labels, and the merge was given no label names for them (shards
    /// keep none: their run directory has them).
    case noLabelNames(path: String)

    /// The one file the error is about, when there is one (a merge names the shard at fault).
    public var file: String? {
        switch self {
        case let .hdf5(_, path, _), let .missingFile(path), let .notHDF5(path), let .unreadable(path, _),
             let .notAStore(path, _), let .unsupportedVersion(path, _, _), let .incomplete(path),
             let .wrongKind(path, _, _), let .missingDataset(path, _), let .datasetType(path, _, _),
             let .attributeType(path, _, _), let .inconsistent(path, _), let .rowRange(path, _, _, _, _),
             let .shardMismatch(path, _, _, _), let .indexOutOfRange(path, _, _), let .io(path, _),
             let .noSpace(path), let .checksumMismatch(path, _), let .nonFinite(path, _, _), let .parse(path, _, _),
             let .tooManyOpenFiles(path, _), let .noLabelNames(path):
            path
        case .duplicateIndex, .missingIndex, .noShards, .invalidRows, .badQuery:
            nil
        }
    }

    public var description: String {
        switch self {
        case let .hdf5(function, path, stack):
            "\(path): HDF5 call \(function) failed: \(stack.isEmpty ? "no error stack" : stack)"
        case let .missingFile(path): "\(path): no such file"
        case let .notHDF5(path): "\(path): not an HDF5 file (no HDF5 signature)"
        case let .unreadable(path, stack):
            "\(path): HDF5 file cannot be opened; it is truncated or corrupt (\(stack))"
        case let .notAStore(path, reason): "\(path): not a magfleet feature store: \(reason)"
        case let .unsupportedVersion(path, found, supported):
            "\(path): feature store format version \(found); this magfleet reads version \(supported)"
        case let .incomplete(path):
            "\(path): incomplete feature store (its writer did not finish; the 'complete' mark is absent)"
        case let .wrongKind(path, expected, found): "\(path): expected a \(expected) file, found a \(found) file"
        case let .missingDataset(path, name): "\(path): dataset \(name) is missing"
        case let .datasetType(path, name, expected): "\(path): dataset \(name) should hold \(expected)"
        case let .attributeType(path, name, expected): "\(path): attribute \(name) should be \(expected)"
        case let .inconsistent(path, detail): "\(path): inconsistent store: \(detail)"
        case let .rowRange(path, dataset, start, count, rows):
            "\(path): rows \(start)..<\(start + count) of \(dataset) are out of range (it has \(rows) rows)"
        case let .shardMismatch(path, field, expected, found):
            "shard \(path): \(field) is \(found.debugDescription) but the first shard has \(expected.debugDescription); refusing to merge"
        case let .duplicateIndex(index, first, second):
            "global index \(index) appears twice: in \(first) and in \(second); refusing to merge"
        case let .missingIndex(index, total): "global index \(index) of 0..<\(total) is in no shard; refusing to merge"
        case let .indexOutOfRange(path, index, total): "shard \(path): global index \(index) is outside 0..<\(total)"
        case .noShards: "no shard files given"
        case let .invalidRows(message): "invalid rows: \(message)"
        case let .io(path, message): "\(path): \(message)"
        case let .noSpace(path): "\(path): No space left on device (nothing partial is left there; free space and run again)"
        case let .checksumMismatch(path, dataset):
            "\(path): checksum mismatch in /\(dataset): the file is corrupt (its bytes changed after it was written)"
        case let .nonFinite(path, row, index):
            "\(path): row \(row) (global index \(index)) has a non-finite embedding (NaN or infinity); refusing to merge"
        case let .parse(path, line, message): "\(path)\(line.map { ":\($0)" } ?? ""): \(message)"
        case let .badQuery(message): message
        case let .noLabelNames(path):
            "\(path): its rows carry labels, whose names shard files do not keep (their run directory has them): merge with --run-dir RUNDIR"
        case let .tooManyOpenFiles(path, limit?):
            "\(path): cannot open: too many open files (this process may hold \(limit): `ulimit -n`); raise the limit "
                + "(`ulimit -n 65536` in the shell, LimitNOFILE= in a systemd unit) and run again"
        case let .tooManyOpenFiles(path, nil):
            "\(path): cannot open: the system's table of open files is full (ENFILE, fs.file-max); close other programs' files or raise fs.file-max and run again"
        }
    }
}
