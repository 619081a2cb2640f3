import Foundation
import Testing

/// The magfleet command lines in Deploy/'s shell scripts (the Slurm script's coordinator and
/// workers, keygen, the demo's steps) use only flags that the real `magfleet … --help` lists.
@Suite struct ScriptCommandTests {
    /// A magfleet invocation found in a script: where, the subcommand words, the arguments.
    struct Invocation: CustomStringConvertible {
        var place: String
        var subcommand: String
        var arguments: [String]
        var description: String { "\(place): magfleet \(subcommand)" }
    }

    /// Lines (continuations joined, comments skipped) where `magfleet`, `"$bin"` or
    /// `/…/magfleet` is followed by one or two lowercase subcommand words.
    static func invocations(in script: String) -> [Invocation] {
        guard let text = try? String(contentsOfFile: DeployTree.repository.path + "/" + script, encoding: .utf8) else { return [] }
        let joined = text.replacingOccurrences(of: "\\\n", with: " ")
        var found: [Invocation] = []
        for (number, line) in joined.split(separator: "\n").enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") { continue }
            let words = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            for (i, word) in words.enumerated() where word == "magfleet" || word == "\"$bin\"" || word.hasSuffix("/magfleet") {
                var subcommand: [String] = []
                var j = i + 1
                while j < words.count, subcommand.count < 2, words[j].range(of: "^[a-z]+$", options: .regularExpression) != nil {
                    subcommand.append(words[j])
                    j += 1
                }
                guard !subcommand.isEmpty else { continue }
                let rest = words[j...].prefix { !["&", "&&", "||", "|", ";"].contains($0) }
                found.append(Invocation(place: "\(script) line \(number + 1)", subcommand: subcommand.joined(separator: " "), arguments: Array(rest)))
            }
        }
        return found
    }

    static var all: [Invocation] { DeployTree.shellScripts.flatMap { invocations(in: $0) } }

    @Test func theSlurmScriptAndTheDemoAreCovered() {
        let names = Set(Self.all.map { "\($0.place.split(separator: " ")[0]) \($0.subcommand)" })
        for expected in ["Deploy/slurm/magfleet.sbatch coordinator", "Deploy/slurm/magfleet.sbatch worker",
                         "Deploy/slurm/magfleet.sbatch keygen", "Deploy/demo.sh extract", "Deploy/demo.sh reduce"] {
            #expect(names.contains(expected), "\(expected) not found among \(names.sorted())")
        }
    }

    @Test func everyFlagIsAccepted() throws {
        for invocation in Self.all {
            let accepted = try MagfleetFlags.accepted(by: invocation.subcommand)
            for flag in MagfleetFlags.used(in: invocation.arguments) {
                #expect(accepted.contains(flag), "\(invocation) does not accept \(flag)")
            }
        }
    }

    /// The help parsing is not so loose that anything passes.
    @Test func theFlagCheckRejectsAnUnknownFlag() throws {
        let worker = try MagfleetFlags.accepted(by: "worker")
        #expect(worker.isSuperset(of: ["--connect", "--model", "--threads", "--curve-key", "--server-key", "--root"]))
        #expect(!worker.contains("--no-such-flag"))
        #expect(!worker.contains("--bind"), "--bind is the coordinator's")
        #expect(try MagfleetFlags.accepted(by: "coordinator").isSuperset(of: ["--no-progress", "--progress", "--allow"]))
        #expect(MagfleetFlags.used(in: ["--a=b", "x", "--c", "--", "--d"]) == ["--a", "--c"])
    }
}
