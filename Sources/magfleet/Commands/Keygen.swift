import ArgumentParser
import ZeroMQ

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub.",
        discussion: "Give the coordinator its .key and an allowlist of worker .pub files; give each worker its .key and the coordinator's .pub.")

    @Option(help: "Output path without extension.") var out: String

    func run() throws {
        let keys = try CurveKeyPair.generate()
        try keys.write(to: out)
        print(keys.publicKey)
    }
}
