import ArgumentParser

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
}
