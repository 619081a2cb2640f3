import ArgumentParser
import Checkpoint
import Foundation
import IResNet

/// `magfleet model`: look inside checkpoints and make random-weight ones.
struct Model: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect a PyTorch checkpoint, or write a random-weight one.",
        subcommands: [Inspect.self, Random.self])

    /// Parses a preset name (iresnet18/34/50/100).
    static func preset(_ name: String) throws -> IResNetConfig {
        guard let config = IResNetConfig.preset(named: name) else {
            throw ValidationError("unknown architecture '\(name)'; known: \(IResNetConfig.presets.map(\.name).joined(separator: ", "))")
        }
        return config
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a checkpoint's architecture, parameter count, key mapping and fingerprint.",
            discussion: """
                Reads only the backbone's tensors (MagLinear's fc.weight and optimizer state are \
                skipped, never read). The fingerprint is the SHA-256 of the backbone weights as used; \
                workers and the feature store record it to prove which model made a feature.

                Examples:
                  magfleet model inspect magface_epoch_00025.pth
                """)

        @Argument(help: "The .pth file (zip or legacy PyTorch format).")
        var checkpoint: String

        @Option(help: "Expected architecture (iresnet18/34/50/100); detected from the keys when omitted.")
        var arch: String?

        func run() throws {
            let url = URL(fileURLWithPath: checkpoint)
            let expected = try arch.map(Model.preset)
            do {
                let file = try Checkpoint(contentsOf: url)
                let mapping = try CheckpointMapping(file, architecture: expected)
                let net = try IResNet(checkpoint: file, architecture: mapping.config)
                let c = net.config
                print("file:          \(url.path) (\(file.format.rawValue) format)")
                print("architecture:  \(c)  blocks \(c.blocks) widths \(c.widths) embedding \(c.embeddingSize)")
                print("parameters:    \(net.parameterCount) (\(String(format: "%.2f", c.flopsPerImage / 1e9)) GFLOP per 112x112 image)")
                let shown = mapping.prefix.isEmpty ? "(no prefix)" : mapping.prefix
                print("key mapping:   \(shown)<key> -> <key>  (\(mapping.used) backbone tensors used)")
                for (key, shape) in mapping.skipped.prefix(10) { print("  skipped, never read: \(key) \(shape)") }
                if mapping.skipped.count > 10 { print("  … and \(mapping.skipped.count - 10) more skipped") }
                for key in file.metadata.keys.sorted() { print("metadata:      \(key) = \(file.metadata[key]!)") }
                print("weights:       \(net.isRandom ? "RANDOM WEIGHTS (magfleet model random): embeddings are meaningless" : "trained (from the checkpoint)")")
                print("fingerprint:   \(net.fingerprint)")
                print("peak RSS:      \(ProcessMemory.peakDescription)")
            } catch let error as IResNetError {
                throw CommandFailure("\(url.path): \(error)")
            }
        }
    }

    struct Random: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a random-weight iresnet checkpoint (PyTorch zip format, torch.load reads it).",
            discussion: """
                The file records magfleet.random_weights = true; every consumer reports it. Same \
                architecture and seed give the same weights and fingerprint.

                Examples:
                  magfleet model random --arch iresnet18 --out random18.pth
                """)

        @Option(help: "Architecture: iresnet18, iresnet34, iresnet50 or iresnet100.")
        var arch = "iresnet100"

        @Option(help: "Seed of the weights.")
        var seed: UInt64 = 0

        @Option(help: "Output .pth file.")
        var out: String

        func run() throws {
            let config = try Model.preset(arch)
            try OutputFile.prepare(out, "checkpoint (--out)")
            let entries = IResNet.randomWeights(config: config, seed: seed).map {
                CheckpointWriter.Entry(key: $0.0.key, shape: $0.0.shape, values: $0.1)
            }
            let url = URL(fileURLWithPath: out)
            do {
                try CheckpointWriter.write(entries, metadata: [
                    ("random_weights", .bool(true)), ("arch", .string(arch)), ("seed", .int(Int(truncatingIfNeeded: seed))),
                    ("version", .string(magfleetVersion)),
                ], to: url)
            } catch {
                throw CommandFailure("cannot write the checkpoint \(url.path): \(OutputFile.reason(error))")
            }
            let net = IResNet.random(config: config, seed: seed)
            print("wrote \(url.path): \(config) RANDOM WEIGHTS seed \(seed), fingerprint \(net.fingerprint)")
        }
    }
}

/// This process's memory as the kernel reports it (Linux /proc/self/status).
enum ProcessMemory {
    /// Peak resident set size (VmHWM) in bytes, or nil where /proc is absent.
    static var peakBytes: Int? { field("VmHWM") }
    /// Current resident set size (VmRSS) in bytes.
    static var currentBytes: Int? { field("VmRSS") }

    static var peakDescription: String {
        peakBytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "unknown"
    }

    private static func field(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}
