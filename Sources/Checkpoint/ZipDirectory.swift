/// The central directory of a zip archive as PyTorch writes it (torch >= 1.6): entries stored
/// uncompressed, ZIP64 records when present. Only offsets are read; entry data stays mapped.
struct ZipDirectory {
    struct Entry {
        var name: String
        /// Byte offset of the entry's data in the file.
        var dataOffset: Int
        var size: Int
    }

    let entries: [String: Entry]
    /// Entry names in directory order.
    let names: [String]

    static let localSignature: UInt32 = 0x0403_4b50

    init(file: MappedFile) throws {
        let path = file.path, n = file.count
        func truncated(_ why: String) -> CheckpointError { .truncated(path: path, reason: why) }
        // End of central directory: 22 bytes + up to 64 KiB of comment, searched from the end.
        var eocd = -1
        var i = n - 22
        let lowest = max(0, n - 22 - 65_535)
        while i >= lowest {
            if file.le(i, as: UInt32.self) == 0x0605_4b50 { eocd = i; break }
            i -= 1
        }
        if eocd < 0 {
            throw truncated("zip archive without an end-of-central-directory record (the file was cut short)")
        }
        var count = Int(file.le(eocd + 10, as: UInt16.self))
        var cdSize = Int(file.le(eocd + 12, as: UInt32.self))
        var cdOffset = Int(file.le(eocd + 16, as: UInt32.self))
        // ZIP64 locator sits just before the EOCD.
        if eocd >= 20, file.le(eocd - 20, as: UInt32.self) == 0x0706_4b50 {
            let z64 = Int(truncatingIfNeeded: file.le(eocd - 12, as: UInt64.self))
            guard z64 >= 0, z64 <= n - 56, file.le(z64, as: UInt32.self) == 0x0606_4b50 else {
                throw truncated("ZIP64 end-of-central-directory record missing")
            }
            count = Int(truncatingIfNeeded: file.le(z64 + 32, as: UInt64.self))
            cdSize = Int(truncatingIfNeeded: file.le(z64 + 40, as: UInt64.self))
            cdOffset = Int(truncatingIfNeeded: file.le(z64 + 48, as: UInt64.self))
        }
        guard cdOffset >= 0, cdSize >= 0, count >= 0, cdOffset <= n, cdSize <= n - cdOffset else {
            throw truncated("central directory at \(cdOffset)+\(cdSize) lies past the end of the \(n)-byte file")
        }
        var entries: [String: Entry] = [:]
        var names: [String] = []
        var p = cdOffset
        for _ in 0..<count {
            guard p + 46 <= n, file.le(p, as: UInt32.self) == 0x0201_4b50 else {
                throw truncated("central directory entry at \(p) is damaged")
            }
            let method = Int(file.le(p + 10, as: UInt16.self))
            var compSize = Int(file.le(p + 20, as: UInt32.self))
            var size = Int(file.le(p + 24, as: UInt32.self))
            let nameLen = Int(file.le(p + 28, as: UInt16.self))
            let extraLen = Int(file.le(p + 30, as: UInt16.self))
            let commentLen = Int(file.le(p + 32, as: UInt16.self))
            var local = Int(file.le(p + 42, as: UInt32.self))
            guard p + 46 + nameLen + extraLen + commentLen <= n else { throw truncated("central directory entry at \(p)") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: file.bytes[(p + 46)..<(p + 46 + nameLen)]), as: UTF8.self)
            // ZIP64 extended information: the 0xFFFFFFFF fields, in order size, compressed, offset.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = file.le(e, as: UInt16.self), len = Int(file.le(e + 2, as: UInt16.self))
                if id == 0x0001 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF, q + 8 <= e + 4 + len { size = Int(truncatingIfNeeded: file.le(q, as: UInt64.self)); q += 8 }
                    if compSize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { compSize = Int(truncatingIfNeeded: file.le(q, as: UInt64.self)); q += 8 }
                    if local == 0xFFFF_FFFF, q + 8 <= e + 4 + len { local = Int(truncatingIfNeeded: file.le(q, as: UInt64.self)) }
                }
                e += 4 + len
            }
            if method != 0 { throw CheckpointError.compressedEntry(path: path, entry: name, method: method) }
            guard local >= 0, local <= n - 30, file.le(local, as: UInt32.self) == Self.localSignature else {
                throw truncated("local header of '\(name)' at \(local) is missing")
            }
            let dataOffset = local + 30 + Int(file.le(local + 26, as: UInt16.self)) + Int(file.le(local + 28, as: UInt16.self))
            guard size >= 0, dataOffset <= n, size <= n - dataOffset else {
                throw truncated("entry '\(name)' needs bytes \(dataOffset)..<\(dataOffset + size) of a \(n)-byte file")
            }
            entries[name] = Entry(name: name, dataOffset: dataOffset, size: size)
            names.append(name)
            p += 46 + nameLen + extraLen + commentLen
        }
        self.entries = entries
        self.names = names
    }
}
