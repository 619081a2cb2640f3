import Foundation
import Imaging
import Testing

@Suite struct ImageListTests {
    @Test func allThreeFormatsCommentsAndBlanks() {
        let text = """
            # MagFace list
            a/1.jpg

            b/2.jpg 7
            \tc/3.jpg  9  1 2 3 4 5 6 7 8 9.5 10\r
            """
        let list = ImageList.parse(text)
        #expect(list.count == 3)
        #expect(list.problems.isEmpty)
        #expect(list[0] == .init(index: 0, line: 2, path: "a/1.jpg", label: nil, landmarks: nil))
        #expect(list[1].label == 7 && list[1].line == 4)
        #expect(list[2].landmarks?.values == [1, 2, 3, 4, 5, 6, 7, 8, 9.5, 10])
        #expect(list[2].line == 5 && list.labelNames.isEmpty)
    }

    @Test func nameLabelsGetIdsAndKeepNames() {
        let list = ImageList.parse("x.jpg alice\ny.jpg bob\nz.jpg alice\n")
        #expect(list.map(\.label) == [0, 1, 0])
        #expect(list.labelNames == ["alice", "bob"])
        #expect(list.labelName(1) == "bob")
    }

    @Test func mixedLabelsBecomeNames() {
        let list = ImageList.parse("x.jpg 12\ny.jpg bob\nz.jpg 12\n")
        #expect(list.labelNames == ["12", "bob"])
        #expect(list.map(\.label) == [0, 1, 0])
    }

    @Test func labelFromParentFolder() {
        let list = ImageList.parse("ids/alice/1.jpg\nids/bob/2.jpg\nids/alice/3.jpg 5\nloose.jpg\n",
                                   options: .init(labelFromFolder: true))
        #expect(list.labelNames == ["alice", "bob", "5"])
        #expect(list.map(\.label) == [0, 1, 2])
        #expect(list.problems.map(\.line) == [4])
    }

    @Test func malformedAndDuplicateLinesAreReportedWithLineNumbers() {
        let text = "a.jpg\nb.jpg 1 2\nc.jpg 1 1 2 3 4 5 6 7 8 9 x\na.jpg 3\nd.jpg\nd.jpg\n"
        let list = ImageList.parse(text)
        #expect(list.map(\.path) == ["a.jpg", "d.jpg"])
        #expect(list.map(\.line) == [1, 5])
        #expect(list.problems.map(\.line) == [2, 3, 4, 6])
        #expect(list.problems[2].kind == .duplicate(path: "a.jpg", firstLine: 1))
        #expect(list.problems[0].description.contains("found 3"))
        #expect(list.problems[1].description.contains("'x'"))
    }

    @Test func slicesAreIndexRanges() {
        let text = (0..<1000).map { "img/\($0).jpg \($0 % 10)" }.joined(separator: "\n")
        let list = ImageList.parse(text)
        let shard = list[250..<500]
        #expect(shard.count == 250)
        #expect(shard.first?.path == "img/250.jpg" && shard.first?.index == 250 && shard.first?.line == 251)
        #expect(shard.last?.label == 9)
    }

    @Test func missingListFile() {
        #expect(throws: ImagingError.self) { try ImageList.load(path: "/nonexistent/list.txt") }
    }
}
