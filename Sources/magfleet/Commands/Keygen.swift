import ArgumentParser
import Foundation
import ZeroMQ

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub.",
        discussion: """
            Give the coordinator its .key and an allowlist of worker .pub files; give each worker \
            its .key and the coordinator's .pub. An existing pair is never replaced without \
            --force: the hosts that hold its public key would be locked out.

            Examples:
              magfleet keygen --out keys/coordinator
              magfleet keygen --out keys/workers/node17
            """)

    @Option(help: "Output path without extension.") var out: String
    @Flag(help: "Replace an existing NAME.key / NAME.pub.") var force = false

    func run() throws {
        let existing = [out + ".key", out + ".pub"].filter { FileManager.default.fileExists(atPath: $0) }
        if !existing.isEmpty, !force {
            throw CommandFailure("""
                \(existing.joined(separator: " and ")) already exist\(existing.count == 1 ? "s" : ""); \
                refusing to replace a key pair (hosts holding its public key would be locked out). \
                Give another --out, or add --force to replace it.
                """)
        }
        try OutputFile.prepare(out + ".key", "secret key", createDirectories: true)
        let keys = try CurveKeyPair.generate()
        try keys.write(to: out)
        print(keys.publicKey)
    }
}
