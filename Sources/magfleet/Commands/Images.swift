import ArgumentParser
import Dispatch
import Base
import Foundation
import Imaging

/// `magfleet images`: check an image list before a run, and measure decode speed.
struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check image lists and benchmark decoding + preprocessing.",
        subcommands: [Check.self, Bench.self])

    /// Options shared by every command that reads images.
    struct DecodeOptions: ParsableArguments {
        @Option(help: "Where list paths are found: ROOT/path (docs/lists.md).")
        var root: String = ""

        @Flag(help: "Reject images that are not 112x112 (and carry no landmarks) instead of resizing them.")
        var strictSize = false

        @Option(help: "Largest width*height accepted; bigger headers are rejected as decompression bombs.")
        var maxPixels: Int = 1 << 26

        @Option(help: "Largest image file read at all, in bytes.")
        var maxFileBytes: Int = 256 << 20

        @Flag(help: "Accept JPEGs with libjpeg warnings (e.g. premature end), as cv2.imread does.")
        var allowJpegWarnings = false

        @Flag(help: "Ignore EXIF orientation (cv2.IMREAD_IGNORE_ORIENTATION).")
        var ignoreExif = false

        @OptionGroup var reads: ReadOptions

        func validate() throws {
            guard maxPixels > 0, maxFileBytes > 0 else { throw ValidationError("--max-pixels and --max-file-bytes must be positive") }
        }

        var pipelineOptions: ImagePipeline.Options {
            ImagePipeline.Options(
                decoder: .init(maxPixels: maxPixels, jpegWarningsAreErrors: !allowJpegWarnings,
                               applyExifOrientation: !ignoreExif, maxFileBytes: maxFileBytes,
                               readTimeoutMilliseconds: reads.readTimeoutMs),
                strictSize: strictSize, root: root)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse a list and decode every image; report each problem with its line number.",
            discussion: """
                Reads the list as a run does (docs/lists.md) and fails the rows a run would fail, \
                with the same categories. Exits 1 when any row fails (a malformed line or an image); \
                a path listed twice is a warning.

                Examples:
                  magfleet images check --list demo/images.list --root demo/images
                  magfleet images check --list demo/images.list --root demo/images --json
                """)

        @Option(help: "The image list: `path [label [x1 y1 ... x5 y5]]` per line (docs/lists.md).")
        var list: String?

        @Argument(help: .hidden)  // the list as a positional, as before --list: still accepted
        var listArgument: String?

        @OptionGroup var decode: DecodeOptions

        @Option(help: "Threads decoding in parallel.")
        var threads: Int = 1

        @Flag(help: "Print the report as JSON.")
        var json = false

        func validate() throws {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            guard (list == nil) != (listArgument == nil) else { throw ValidationError("give the image list once, with --list LIST") }
        }

        func run() throws {
            let list = self.list ?? listArgument!
            let report: ListCheck.Report
            report = try ListCheck.run(list: list, pipeline: ImagePipeline(options: decode.pipelineOptions), threads: threads)
            if json {
                try Console.printJSON(report)
            } else {
                // One line per problem, in list order: "LIST:LINE: what".
                for (line, text) in report.problemLines { print("\(list):\(line): \(text)") }
                let kinds = report.failuresByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                print("""
                    \(report.entries) images: \(report.ok) ok, \(report.failures.count) failed\(kinds.isEmpty ? "" : " (\(kinds))"); \
                    \(report.resized) resized, \(report.aligned) aligned; \(report.warnings.count) warning(s); \
                    \(String(format: "%.2f", report.seconds)) s
                    """)
            }
            if !report.failures.isEmpty { throw ExitCode.failure }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure decode + preprocess of 112x112 JPEGs (images/s on one core) and list parsing.",
            discussion: """
                Makes its own face-sized JPEGs (quality 95, 4:2:0), writes them to a temporary \
                directory, then times read + decode (with the default read deadline, on a helper \
                thread, and without one, on the calling thread) and read + decode + magface \
                preprocessing into a batch slot, one image at a time, per second of the process's \
                CPU time (images/s per core, robust to a busy machine; the read helper's CPU \
                counts) and per second of wall-clock time. With --peer-python it times \
                cv2.imread + numpy (HWC->CHW, /255) on the same files in the same run. Then streams \
                a synthetic list of --list-lines lines from a file through the list reader (parse, \
                SHA-256, no label table).

                Examples:
                  magfleet images bench --images 200 --rounds 3 --list-lines 0
                """)

        @Option(help: "Distinct JPEG files to make.")
        var images: Int = 500

        @Option(help: "Timed rounds over all files (the median is reported).")
        var rounds: Int = 5

        @Option(help: "Lines in the synthetic list to parse (0 skips).")
        var listLines: Int = 10_000_000

        @Option(help: "A python with opencv-python-headless and numpy, to time cv2 on the same files.")
        var peerPython: String?

        func validate() throws {
            guard images >= 1, rounds >= 1, listLines >= 0 else { throw ValidationError("counts must be positive") }
        }

        func run() throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            var paths: [String] = []
            var bytes = 0
            for i in 0..<images {
                let jpeg = try JPEGEncoder.encode(Self.synthetic(seed: UInt64(i)), quality: 95)
                let path = dir.appendingPathComponent(String(format: "%06d.jpg", i)).path
                try Data(jpeg).write(to: URL(fileURLWithPath: path))
                paths.append(path)
                bytes += jpeg.count
            }
            print("""
                imaging bench: \(images) JPEGs 112x112 q95 4:2:0, mean \(bytes / images) bytes; \(rounds) rounds, one image \
                at a time; rates per second of process CPU time (per core) and of wall-clock time
                """)

            let pipeline = ImagePipeline(options: .init(preprocessing: .init(preset: .magface)))
            var slot = [Float](repeating: 0, count: Preprocessing.floatsPerImage)
            var bounded: [Rate] = [], unbounded: [Rate] = [], full: [Rate] = []
            let decoder = ImageDecoder(), inline = ImageDecoder(options: .init(readTimeoutMilliseconds: 0))
            for _ in 0..<rounds {
                bounded.append(try Self.time(paths.count) {
                    for p in paths { _ = try decoder.decode(contentsOf: p) }
                })
                unbounded.append(try Self.time(paths.count) {
                    for p in paths { _ = try inline.decode(contentsOf: p) }
                })
                full.append(try Self.time(paths.count) {
                    try slot.withUnsafeMutableBufferPointer { out in
                        for (i, p) in paths.enumerated() {
                            _ = try pipeline.load(ListEntry(index: i, line: i + 1, path: p), into: out)
                        }
                    }
                })
            }
            let deadline = "\(BoundedFileReader.defaultTimeoutMilliseconds) ms deadline"
            Self.report("magfleet  read+decode, \(deadline)", bounded)
            Self.report("magfleet  read+decode, no deadline", unbounded)
            Self.report("magfleet  read+decode+preprocess, \(deadline)", full)
            if let peerPython {
                let ours = Self.median(full.map(\.cpu))
                let peer = try Self.peer(python: peerPython, dir: dir.path, rounds: rounds)
                print(String(format: "  %@ %8.0f images/s per core (median, %@)",
                             "cv2+numpy imread+preprocess".padding(toLength: 52, withPad: " ", startingAt: 0), peer.rate, peer.version))
                print(String(format: "  ratio magfleet / cv2: %.2f", ours / peer.rate))
            }
            if listLines > 0 { try benchList() }
        }

        /// One timed round: images per second of process CPU time and of wall-clock time.
        struct Rate {
            var cpu: Double
            var wall: Double
        }

        static func report(_ label: String, _ rates: [Rate]) {
            print(String(format: "  %@ %8.0f images/s per core, %8.0f wall (medians; per core by round %@)",
                         label.padding(toLength: 52, withPad: " ", startingAt: 0), median(rates.map(\.cpu)), median(rates.map(\.wall)),
                         rates.map { String(format: "%.0f", $0.cpu) }.joined(separator: " ")))
        }

        func benchList() throws {
            var text = [UInt8]()
            text.reserveCapacity(listLines * 40)
            for i in 0..<listLines {
                text.append(contentsOf: "ids/\(i / 50)/img_\(i).jpg \(i / 50)\n".utf8)
            }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-bench-\(UUID().uuidString).list")
            try Data(text).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let bytes = text.count
            text = []
            let rss0 = Self.residentBytes()
            let start = DispatchTime.now()
            let cpu0 = Self.threadCPUSeconds()
            let reader = try ListReader(path: file.path)
            var entries = 0, problems = 0
            while let entry = try reader.next() {
                entries += 1
                if entry.problem != nil { problems += 1 }
            }
            let cpu = Self.threadCPUSeconds() - cpu0
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            let rss1 = Self.residentBytes()
            print(String(format: "  list parse: %d lines (%.0f MB) in %.2f s CPU, %.2f s wall (%.1f M lines/s CPU); resident +%.0f MB; %d entries, %d problems",
                         listLines, Double(bytes) / 1e6, cpu, seconds, Double(listLines) / cpu / 1e6,
                         Double(max(0, rss1 - rss0)) / 1e6, entries, problems))
        }

        /// A face-sized test image: smooth gradients plus deterministic noise (never flat).
        static func synthetic(seed: UInt64) -> BGRImage {
            var rng = SeededGenerator(seed: seed)
            var px = [UInt8](repeating: 0, count: 112 * 112 * 3)
            for y in 0..<112 {
                for x in 0..<112 {
                    let noise = Int(rng.next() >> 59) - 16
                    let dx = Double(x - 56), dy = Double(y - 60)
                    let face = (dx * dx / 1600 + dy * dy / 2500) < 1 ? 70 : 0
                    let o = (y * 112 + x) * 3
                    px[o] = UInt8(clamping: 60 + x + noise + Int(seed % 30))
                    px[o + 1] = UInt8(clamping: 80 + face + y / 2 + noise)
                    px[o + 2] = UInt8(clamping: 120 + face + (x + y) / 3 + noise)
                }
            }
            return BGRImage(width: 112, height: 112, pixels: px)
        }

        /// Images per second of this process's CPU time (CLOCK_PROCESS_CPUTIME_ID: the read
        /// helpers' time counts, and nothing else runs): what one core does, unaffected by other
        /// processes competing for the machine; and per second of wall-clock time.
        static func time(_ count: Int, _ body: () throws -> Void) throws -> Rate {
            let start = processCPUSeconds(), wall = DispatchTime.now().uptimeNanoseconds
            try body()
            let cpu = processCPUSeconds() - start
            return Rate(cpu: Double(count) / cpu,
                        wall: Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e9))
        }

        static func processCPUSeconds() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }

        static func threadCPUSeconds() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }

        static func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

        static func residentBytes() -> Int {
            guard let status = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
            let fields = status.split(separator: " ")
            return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
        }

        static func peer(python: String, dir: String, rounds: Int) throws -> (rate: Double, version: String) {
            let script = """
                import glob, sys, time
                import cv2, numpy as np
                cv2.setNumThreads(1)
                files = sorted(glob.glob(sys.argv[1] + '/*.jpg'))
                rates = []
                for _ in range(int(sys.argv[2])):
                    t = time.process_time()
                    for f in files:
                        img = cv2.imread(f)
                        x = img.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
                    rates.append(len(files) / (time.process_time() - t))
                rates.sort()
                print(rates[len(rates) // 2], 'cv2', cv2.__version__)
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = ["-c", script, dir, String(rounds)]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let parts = output.split(separator: " ", maxSplits: 1)
            guard process.terminationStatus == 0, let rate = parts.first.flatMap({ Double($0) }) else {
                throw CommandFailure("peer python failed (status \(process.terminationStatus)): \(output)")
            }
            return (rate, parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespacesAndNewlines) : "cv2")
        }
    }
}
