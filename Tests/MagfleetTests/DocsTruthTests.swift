import Foundation
import Testing
import TestSupport
import Wire
import Cluster

/// Checks that keep the docs true where a program can tell: the protocol schema against its
/// spec and changelog, and each command's help against docs/lists.md.
@Suite struct DocsTruthTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static func matches(_ pattern: String, in text: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    /// Every message of the schema is specified in Protocols/README.md, and the schema, the
    /// spec, the changelog and the code speak the same version.
    @Test func theProtocolSpecCoversTheSchema() throws {
        let proto = try Self.text("Protocols/magfleet.proto")
        let spec = try Self.text("Protocols/README.md")
        let changelog = try Self.text("Protocols/CHANGELOG.md")
        let messages = try Self.matches(#"(?m)^message (\w+)"#, in: proto)
        #expect(messages.count >= 19)
        for message in messages {
            #expect(spec.contains("`\(message)`") || spec.contains("### \(message)"), "Protocols/README.md does not specify \(message)")
        }
        let version = try #require(try Self.matches(#"PROTOCOL_VERSION_CURRENT = (\d+);"#, in: proto).first.flatMap { UInt32($0) })
        #expect(version == WireCodec.protocolVersion)
        #expect(spec.hasPrefix("# magfleet cluster protocol, version \(version)\n"))
        #expect(proto.contains("wire protocol, version \(version)."))
        #expect(changelog.contains("## Version \(version)"), "Protocols/CHANGELOG.md has no section for version \(version)")
    }

    /// Every metric the coordinator exports is in docs/operations.md's table, and nothing else is.
    @Test func everyMetricIsDocumented() throws {
        let ops = try Self.text("docs/operations.md")
        let documented = Set(try Self.matches(#"(?m)^\| `(magfleet_\w+)` \|"#, in: ops))
        #expect(documented == Set(RunMetrics.help.map(\.key)))
    }

    /// The commands that read lists point to docs/lists.md, and every option docs/lists.md
    /// names exists on the commands it is about.
    @Test func listHelpPointsToTheListDocsAndItsOptionsExist() throws {
        var helps: [String: String] = [:]
        for command in [["extract"], ["coordinator"], ["worker"], ["images", "check"], ["import"], ["reduce"]] {
            let r = try MagfleetProcess.run(command + ["--help"], timeout: 30)
            #expect(r.status == 0)
            let help = r.stdout.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "  ", with: " ")
            helps[command.joined(separator: " ")] = help
            #expect(help.contains("docs/lists.md"), "magfleet \(command.joined(separator: " ")) --help does not point to docs/lists.md")
            #expect(!help.lowercased().contains("one path per line"))
        }
        let docs = try Self.text("docs/lists.md")
        let options = Set(try Self.matches(#"`(--[a-z][a-z-]+)"#, in: docs))
        #expect(options.isSuperset(of: ["--root", "--restart", "--retry-failed", "--max-failures", "--labels-from-dirs"]))
        for option in options {
            #expect(helps.values.contains { $0.contains(option) }, "docs/lists.md names \(option), which no command's help has")
        }
    }
}
