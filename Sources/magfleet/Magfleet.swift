import ArgumentParser
import Cluster
import FeatureStore
import Foundation

/// The version every store, report and worker handshake records.
let magfleetVersion = "0.1.0"

@main
struct Magfleet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "magfleet",
        abstract: "MagFace embeddings at cluster scale: extract, store, query, evaluate.",
        discussion: """
            Run `magfleet doctor` first on every new host. See README.md and docs/operations.md.
            """,
        version: magfleetVersion,
        subcommands: [
            Doctor.self,
            Extract.self,
            Coordinator.self,
            Worker.self,
            Keygen.self,
            Status.self,
            Images.self,
            Demo.self,
            Model.self,
            Bench.self,
            Reduce.self,
            Pairs.self,
            Head.self,
            Info.self,
            Query.self,
            Merge.self,
            Export.self,
            Import.self,
            Serve.self,
        ]
    )

    /// Errors are printed here, in one place: usage errors with their help (ArgumentParser),
    /// every run-time failure as one `magfleet: message` line with its exit status. Commands
    /// and the errors they throw do not add a prefix of their own.
    static func main() {
        let command: ParsableCommand
        do { command = try parseAsRoot() } catch { exitForParser(error) }
        do {
            var command = command
            try command.run()
        } catch let failure as CommandFailure {
            Console.error("magfleet: \(failure)")
            Foundation.exit(failure.code)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            exitForParser(error)  // --help (its run throws), ValidationError, CleanExit
        } catch {
            Console.error("magfleet: \(OutputFile.reason(error))")
            Foundation.exit(1)
        }
    }

    /// ArgumentParser's own outcomes: help and version on stdout, usage errors with the same
    /// `magfleet:` prefix as every other error (instead of its `Error:`), then the usage.
    static func exitForParser(_ error: Error) -> Never {
        let code = exitCode(for: error)
        var message = fullMessage(for: error)
        if code == .success {
            if !message.isEmpty { print(message) }
        } else {
            if message.hasPrefix("Error: ") { message = "magfleet: " + message.dropFirst("Error: ".count) }
            if !message.isEmpty { Console.error(message) }
        }
        Foundation.exit(code.rawValue)
    }
}
