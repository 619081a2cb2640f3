import Crypto
import Foundation
import Imaging
import Testing

@Suite struct ListReaderTests {
    func rows(_ text: String) throws -> [ListEntry] {
        let reader = ListReader(text: text)
        var out: [ListEntry] = []
        while let e = try reader.next() { out.append(e) }
        return out
    }

    @Test func allThreeFormatsCommentsAndBlanks() throws {
        let text = """
            # MagFace list
            a/1.jpg

            b/2.jpg 7
            \tc/3.jpg  9  1 2 3 4 5 6 7 8 9.5 10\r
            """
        let list = try rows(text)
        #expect(list.count == 3)
        #expect(list[0] == ListEntry(index: 0, line: 2, path: "a/1.jpg"))
        #expect(list[1].labelToken == "7" && list[1].line == 4 && list[1].index == 1)
        #expect(list[2].landmarks?.values == [1, 2, 3, 4, 5, 6, 7, 8, 9.5, 10])
        #expect(list[2].line == 5 && list.allSatisfy { $0.problem == nil })
    }

    /// A line that does not parse is a row with its reason, never a dropped line: the indices of
    /// the rows after it do not move.
    @Test func malformedLinesAreRowsWithTheirReason() throws {
        let list = try rows("a.jpg\nb.jpg 1 2\nc.jpg 1 1 2 3 4 5 6 7 8 9 x\nd.jpg\n")
        #expect(list.map(\.index) == [0, 1, 2, 3])
        #expect(list.map(\.path) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
        #expect(list[1].problem?.contains("found 3") == true)
        #expect(list[2].problem?.contains("'x'") == true)
        #expect(list[0].problem == nil && list[3].problem == nil)
    }

    @Test func invalidUTF8PathIsAProblem() throws {
        let reader = ListReader(bytes: Array("ok.jpg\n".utf8) + [0xFF, 0xFE, 0x0A])
        _ = try reader.next()
        let bad = try #require(try reader.next())
        #expect(bad.problem?.contains("UTF-8") == true && bad.index == 1)
    }

    /// A path or label that is not UTF-8 text is refused naming its first bad byte and where it
    /// is; the row's path keeps the valid text and writes the bad bytes as \xHH.
    @Test func aNonUTF8FieldNamesItsBadByte() throws {
        let latin1: [UInt8] = Array("ids/caf".utf8) + [0xE9] + Array("/1.jpg".utf8)  // "café" in Latin-1
        let text: [UInt8] = latin1 + [0x0A] + Array("é/ü.jpg caf".utf8) + [0xE9, 0x0A] + Array("a\u{0}b.jpg\n".utf8)
        let reader = ListReader(bytes: text)
        var rows: [ListEntry] = []
        while let e = try reader.next() { rows.append(e) }
        #expect(rows.count == 3)
        #expect(rows[0].problem == "malformed: the path is not valid UTF-8 (byte 0xE9 at offset 7); list paths must be UTF-8 text (docs/lists.md)")
        #expect(rows[0].path == "ids/caf\\xE9/1.jpg")
        #expect(rows[1].path == "é/ü.jpg" && rows[1].problem == "malformed: the label is not valid UTF-8 (byte 0xE9 at offset 3)")
        #expect(rows[2].problem?.hasPrefix("malformed: the path contains a NUL byte (offset 1)") == true && rows[2].path == "a\\x00b.jpg")
    }

    /// The reader streams: a list far larger than its 1 MiB buffer, lines across chunk edges,
    /// and the hash of the whole file equals SHA-256 of its bytes.
    @Test func streamsAcrossChunksAndHashesTheFile() throws {
        let lines = (0..<60_000).map { "ids/\($0 / 7)/image_\($0)_padding_to_cross_chunk_edges.jpg \($0 / 7)" }
        let text = lines.joined(separator: "\n") + "\n"
        let path = NSTemporaryDirectory() + "magfleet-list-\(UUID().uuidString).txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try ListReader(path: path)
        var n = 0
        while let e = try reader.next() {
            #expect(e.path == lines[n].split(separator: " ")[0].description)
            n += 1
        }
        #expect(n == 60_000)
        let expected = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(reader.sha256 == expected && reader.bytesRead == text.utf8.count)
        let summary = try ListSummary.scan(path: path)
        #expect(summary.count == 60_000 && summary.sha256 == expected)
        #expect(summary.labels.names.count == 60_000 / 7 + 1)
    }

    @Test func aFifoListIsRefusedNotWaitedOn() throws {
        let path = NSTemporaryDirectory() + "magfleet-fifo-\(UUID().uuidString)"
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        #expect(throws: ImagingError.listUnreadable(path: path, reason: "not a regular file")) { try ListReader(path: path) }
        #expect(throws: ImagingError.self) { try ListReader(path: "/nonexistent/list.txt") }
    }

    @Test func formattedEntriesParseBack() throws {
        let entries = [
            ListEntry(index: 0, line: 1, path: "a/b.jpg"),
            ListEntry(index: 1, line: 2, path: "c.jpg", labelToken: "alice"),
            ListEntry(index: 2, line: 3, path: "d.jpg", landmarks: Landmarks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10.5])),
        ]
        let back = try rows(entries.map(\.formatted).joined(separator: "\n"))
        #expect(back.map(\.path) == entries.map(\.path))
        #expect(back[1].labelToken == "alice" && back[2].labelToken == "-1")
        #expect(back[2].landmarks == entries[2].landmarks)
    }

    @Test func rootJoinsEveryPathTheSameWay() {
        #expect(ImageRoot.join(nil, "a/b.jpg") == "a/b.jpg")
        #expect(ImageRoot.join("", "/abs/b.jpg") == "/abs/b.jpg")
        #expect(ImageRoot.join("/mnt/data", "a/b.jpg") == "/mnt/data/a/b.jpg")
        #expect(ImageRoot.join("/mnt/data/", "a/b.jpg") == "/mnt/data/a/b.jpg")
        #expect(ImageRoot.join("/mnt/data", "/abs/b.jpg") == "/mnt/data/abs/b.jpg")
        #expect(ImageRoot.join("/mnt/data/", "/abs/b.jpg") == "/mnt/data/abs/b.jpg")
    }
}

@Suite struct LabelTableTests {
    let folders = LabelRule(fromFolders: true)

    @Test func theDistractorRule() {
        let plain = LabelRule()
        #expect(plain.identity(path: "alice/1.jpg", labelToken: nil) == nil)  // unlabelled
        #expect(plain.identity(path: "x.jpg", labelToken: "-1") == nil)
        #expect(plain.identity(path: "x.jpg", labelToken: "bob") == "bob")
        #expect(folders.identity(path: "facescrub/alice/1.jpg", labelToken: nil) == "alice")
        #expect(folders.identity(path: "data/distractors/1.jpg", labelToken: nil) == nil)
        #expect(folders.identity(path: "MegaFace_1M/x/y/1.jpg", labelToken: nil) == nil)
        #expect(folders.identity(path: "megaface/1.jpg", labelToken: nil) == nil)
        #expect(folders.identity(path: "loose.jpg", labelToken: nil) == nil)
        #expect(folders.identity(path: "distractors/1.jpg", labelToken: "carol") == "carol")  // a label wins
    }

    @Test func namesNumberByFirstAppearance() {
        let table = LabelTable(identities: ["bob", nil, "alice", "bob", "12"])
        #expect(table.names == ["bob", "alice", "12"])
        #expect(table.label(of: "alice") == 1 && table.label(of: "12") == 2 && table.label(of: nil) == -1)
        #expect(table.label(of: "zed") == -1)
    }

    /// Integer ids are names like any other: numbered as they appear, never 0...max.
    @Test func integerIdsAreNumberedSparsely() {
        let table = LabelTable(identities: ["3", "0", nil, "3", "16777215"])
        #expect(table.names == ["3", "0", "16777215"])
        #expect(table.label(of: "3") == 0 && table.label(of: "0") == 1 && table.label(of: "16777215") == 2)
        let sorted = LabelTable(identities: ["0", "0", "1", nil, "2"])
        #expect((0..<3).map { sorted.label(of: "\($0)") } == [0, 1, 2], "a list sorted by class id keeps its ids")
    }

    /// Appending lines never renumbers an existing identity (what a grown list relies on).
    @Test func appendingKeepsEveryLabel() {
        let old = LabelTable(identities: ["b", "a", nil, "c"])
        let grown = LabelTable(identities: ["b", "a", nil, "c", "0", "a", "d"])
        #expect(Array(grown.names.prefix(old.names.count)) == old.names)
        let ints = LabelTable(identities: ["2", "0"]), moreInts = LabelTable(identities: ["2", "0", "5"])
        #expect(Array(moreInts.names.prefix(ints.names.count)) == ints.names)
    }

    @Test func summaryLabelsRowsWithTheRule() throws {
        let reader = ListReader(text: "p/alice/1.jpg\np/distractors/2.jpg\np/bob/3.jpg 9\np/alice/4.jpg -1\nbad 1 2\n")
        let summary = try ListSummary.scan(reader, rule: folders)
        #expect(summary.count == 5 && summary.problems == 1)
        #expect(summary.labels.names == ["alice", "9"])
        let reread = ListReader(text: "p/alice/1.jpg\np/distractors/2.jpg\np/bob/3.jpg 9\np/alice/4.jpg -1\nbad 1 2\n")
        var labels: [Int64] = []
        while let e = try reread.next() { labels.append(summary.label(of: e)) }
        #expect(labels == [0, -1, 1, -1, -1])
    }
}
