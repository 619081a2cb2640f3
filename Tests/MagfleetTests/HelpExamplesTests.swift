import ArgumentParser
import Foundation
import Testing
import TestSupport
@testable import magfleet

/// Every command's help ends with examples, and they are true: each parses as the command it
/// shows, and the cheap ones run, in order, in a scratch directory holding the files they name.
@Suite struct HelpExamplesTests {
    /// Leaf commands by their path, e.g. ["pairs", "verify"].
    static func leaves(_ command: ParsableCommand.Type = Magfleet.self, _ path: [String] = []) -> [([String], ParsableCommand.Type)] {
        let subcommands = command.configuration.subcommands
        if subcommands.isEmpty { return [(path, command)] }
        return subcommands.flatMap { sub in
            leaves(sub, path + [sub.configuration.commandName ?? sub._commandName])
        }
    }

    /// The examples of a help text: the lines under `Examples:` that start with `magfleet`,
    /// a line ending in ` \` continued by the next.
    static func examples(in help: String) -> [String] {
        guard let start = help.range(of: "Examples:\n") else { return [] }
        var examples: [String] = [], pending = ""
        for line in help[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let text = line.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty, !text.hasPrefix("magfleet ") { break }
            if text.hasSuffix(" \\") { pending += text.dropLast(2) + " "; continue }
            examples.append(pending + text)
            pending = ""
        }
        return examples
    }

    /// Commands without examples (none).
    static let withoutExamples: Set<[String]> = []

    @Test func everyLeafCommandHasExamplesThatParse() throws {
        for (path, command) in Self.leaves() where !Self.withoutExamples.contains(path) {
            let examples = Self.examples(in: command.configuration.discussion)
            #expect(!examples.isEmpty, "magfleet \(path.joined(separator: " ")) --help has no examples")
            for example in examples {
                let words = example.split(separator: " ").map(String.init)
                #expect(Array(words.dropFirst().prefix(path.count)) == path, "\(example) is not an example of \(path)")
                do {
                    let parsed = try Magfleet.parseAsRoot(Array(words.dropFirst()))
                    #expect(type(of: parsed) == command, "\(example) parses as \(type(of: parsed))")
                } catch {
                    Issue.record("\(example) does not parse: \(Magfleet.message(for: error))")
                }
            }
        }
    }

    /// The examples as `--help` prints them are the ones above (wrapping keeps them whole).
    @Test func theHelpPrintsTheExamplesWhole() throws {
        for (path, command) in Self.leaves() where !Self.withoutExamples.contains(path) {
            let help = try MagfleetProcess.run(path + ["--help"], timeout: 30).stdout
            #expect(Self.examples(in: help) == Self.examples(in: command.configuration.discussion), "\(path)")
        }
    }

    /// The cheap commands' examples, run by a shell in the order a person would, in a
    /// directory where the demo data and `features.h5` (the test embedder's) exist. Examples
    /// that name a real checkpoint are only parsed (above).
    @Test func theCheapExamplesRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-examples-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let all = Dictionary(uniqueKeysWithValues: Self.leaves().map { ($0.0, Self.examples(in: $0.1.configuration.discussion)) })
        func run(_ line: String) throws -> (status: Int32, stderr: String) {
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            shell.arguments = ["-c", line]
            shell.currentDirectoryURL = dir
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = MagfleetProcess.productsDirectory.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            shell.environment = env
            let err = Pipe()
            shell.standardOutput = FileHandle.nullDevice
            shell.standardError = err
            try shell.run()
            let stderr = err.fileHandleForReading.readDataToEndOfFile()
            shell.waitUntilExit()
            return (shell.terminationStatus, String(decoding: stderr, as: UTF8.self))
        }
        let order: [[String]] = [["demo", "data"], ["images", "check"], ["extract"], ["info"], ["query"], ["pairs", "make"],
                                 ["pairs", "verify"], ["export"], ["reduce"], ["head", "predict"], ["import"], ["merge"], ["keygen"]]
        var ran = 0
        for path in order {
            if path == ["info"] {
                // The store the other examples read: the demo list, embedded by the test embedder.
                let fixture = try run("magfleet extract --list demo/images.list --root demo/images --embedder test --out features.h5 --no-progress --keep-run-dir")
                #expect(fixture.status == 0, "\(fixture.stderr)")
            }
            for example in try #require(all[path]) where !example.contains("magface_epoch_00025.pth") {
                let r = try run(example)
                #expect(r.status == 0, "\(example): \(r.stderr)")
                ran += 1
            }
        }
        #expect(ran >= 20)
    }
}
