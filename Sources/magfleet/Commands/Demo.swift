import ArgumentParser
import Foundation
import Imaging

/// `magfleet demo`: the built-in demo's synthetic inputs. `make demo` (Deploy/demo.sh) runs
/// the whole job on them with the same commands a real run uses.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the built-in demo's synthetic data set (not real faces).",
        subcommands: [Data.self])

    struct Data: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data",
            abstract: "Write synthetic face-like JPEGs and an image list: identities with jittered images, plus distractors.",
            discussion: """
                Each identity is a distinct synthetic drawing (tone, face shape, eyes, brows, nose, \
                mouth, hair, background); each of its images jitters pose, scale, lighting and \
                noise. Distractors are one-off identities and carry no label, like MegaFace's. \
                Writes OUT/images/<identity>/<n>.jpg, OUT/images/distractors/<n>.jpg and \
                OUT/images.list (`path label` for probes, a bare path for distractors; paths \
                relative to OUT/images; docs/lists.md).

                Examples:
                  magfleet demo data --out demo
                """)

        @Option(help: "Output directory.") var out: String
        @Option(help: "Labelled identities (the probes).") var identities: Int = 12
        @Option(help: "Images per identity.") var perIdentity: Int = 10
        @Option(help: "Unlabelled distractor images, each a different identity.") var distractors: Int = 180
        @Option(help: "Seed: the same seed draws the same data set.") var seed: UInt64 = 2026
        @Option(help: "JPEG quality.") var quality: Int = 92

        func validate() throws {
            guard identities >= 2, perIdentity >= 2 else {
                throw ValidationError("need at least 2 identities of at least 2 images each")
            }
            guard distractors >= 0, (1...100).contains(quality) else {
                throw ValidationError("--distractors must be >= 0 and --quality in 1...100")
            }
        }

        func run() throws {
            try OutputFile.makeDirectory(out, "demo directory (--out)")
            let faces = SyntheticFaces(seed: seed)
            let root = URL(fileURLWithPath: out).appendingPathComponent("images")
            let fm = FileManager.default
            var lines = ["# magfleet demo: SYNTHETIC faces (seed \(seed)), not real people. path [label]"]
            func write(_ pixels: [UInt8], _ relative: String) throws {
                let url = root.appendingPathComponent(relative)
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                let image = BGRImage(width: SyntheticFaces.side, height: SyntheticFaces.side, pixels: pixels)
                try Foundation.Data(try JPEGEncoder.encode(image, quality: quality)).write(to: url)
            }
            for person in 0..<identities {
                let name = String(format: "person_%03d", person)
                let identity = faces.identity(person)
                for variant in 0..<perIdentity {
                    let relative = "\(name)/\(variant).jpg"
                    try write(faces.render(identity, variant: variant + 1), relative)
                    lines.append(ListEntry(index: lines.count, line: lines.count + 1, path: relative, labelToken: name).formatted)
                }
            }
            for index in 0..<distractors {
                let relative = String(format: "distractors/%05d.jpg", index)
                try write(faces.render(faces.identity(1_000_000 + index), variant: 1), relative)
                lines.append(ListEntry(index: lines.count, line: lines.count + 1, path: relative).formatted)
            }
            let list = URL(fileURLWithPath: out).appendingPathComponent("images.list")
            try (lines.joined(separator: "\n") + "\n").write(to: list, atomically: true, encoding: .utf8)
            print("demo data: \(identities * perIdentity) probe images of \(identities) synthetic identities + \(distractors) distractors")
            print("  images: \(root.path)")
            print("  list:   \(list.path)")
        }
    }
}
