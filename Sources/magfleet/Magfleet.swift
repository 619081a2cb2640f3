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
        ]
    )

    /// Errors are printed here, in one place: usage errors with their help (ArgumentParser),
    /// run-time failures as `magfleet: message` with their exit status.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as CommandFailure {
            Console.error("magfleet: \(failure)")
            Foundation.exit(failure.code)
        } catch let failure as ClusterError {
            Console.error("magfleet: \(failure)")
            Foundation.exit(1)
        } catch let failure as FeatureStoreError {  // a store or shard file a run writes (a full disk...)
            Console.error("magfleet: \(failure)")
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}
