import ArgumentParser
import Foundation
import IResNet
import Tensor
import Base

/// `magfleet bench`: times the forward pass on random weights; no checkpoint needed.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the iresnet forward pass on random weights: img/s, ms/image, GFLOP/s, peak RSS.",
        discussion: """
            Compare with Tests/Benchmarks/side_by_side.sh, which runs onnxruntime and OpenVINO in the same command (see \
            docs/performance.md). Each batch size runs one warm-up pass, then repeats until \
            --min-seconds have passed (at least --min-iterations times); the median is reported.

            Examples:
              magfleet bench --arch iresnet50 --batch-size 1,8 --threads 2 --min-seconds 2
            """)

    @Option(help: "Architecture: iresnet18, iresnet34, iresnet50 or iresnet100.")
    var arch = "iresnet100"

    @Option(help: "Images per forward pass: comma-separated batch sizes, each timed.")
    var batchSize = "1,8,32"

    @Option(name: .customLong("batch"), help: .hidden)  // the old name of --batch-size
    var batchAlias: String?

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Time the exact path (im2col + GEMM for every convolution) instead of Winograd.")
    var exact = false

    @Option(help: "The Winograd GEMMs' number format: f32, or bf16 (opt-in, CPUs with AVX512_BF16; docs/engine.md, \"bf16\").")
    var precision: Precision = .f32

    @Option(help: "Minimum timed seconds per batch size.")
    var minSeconds = 5.0

    @Option(help: "Minimum timed passes per batch size.")
    var minIterations = 2

    @Flag(help: "After each batch size, time its phases (Winograd transforms and GEMMs, strided convs, the rest) per layer class, in extra passes.")
    var phases = false

    func run() throws {
        let config = try Model.preset(arch)
        let batches = (batchAlias ?? batchSize).split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !batches.isEmpty, batches.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--batch-size needs positive sizes, e.g. 1,8,32") }
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            BLAS.setThreadCount(threads)
        }
        guard HostCPU.missing.isEmpty else { throw IResNetError.unsupportedCPU(missing: HostCPU.missing) }
        let net = try IResNet.random(config: config, seed: 0, mode: exact ? .exact : .fast, precision: precision)
        let gflop = config.flopsPerImage / 1e9
        print("magfleet bench: \(config) RANDOM WEIGHTS, \(String(format: "%.2f", gflop)) GFLOP/image, \(net.mode) convolutions, \(net.precision) Winograd GEMMs, \(Parallel.threadCount) threads, GEMMs on \(net.mode == .fast ? PanelGEMM.hostKernel.map { "PanelGEMM \($0)" } ?? "OpenBLAS" : "OpenBLAS"), OpenBLAS \(BLAS.coreName), L2 \(HostCPU.l2CacheBytes >> 10) KiB (Winograd blocks fit it)")
        if net.precision == .bf16 {
            print("bf16: each VDPBF16PS does twice an FMA's multiply-adds; the ceiling and efficiency below are float32 FMA's")
        }
        print("after load: peak RSS \(ProcessMemory.peakDescription)")
        // The ceiling: one core's measured FMA peak, times the threads.
        let peak = FMACeiling.measure()
        let ceiling = peak * Double(Parallel.threadCount)
        print(String(format: "FMA peak, one core (measured: 12 independent %d-lane FMA chains): %.1f GFLOP/s; x %d threads = %.1f",
                     HostCPU.hasAVX512 ? 16 : 8, peak / 1e9, Parallel.threadCount, ceiling / 1e9))
        print("batch  passes  ms/batch  img/s   ms/image  GFLOP/s  peak RSS    issued GFLOP/image  GEMM ceiling img/s  efficiency")
        fflush(nil)
        let size = IResNetConfig.inputSize
        for n in batches {
            var rng = SeededGenerator(seed: UInt64(n))
            let images: [Float] = (0..<(n * 3 * size * size)).map { _ in Float(rng.uniform(-1, 1)) }
            func pass() -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                let e = images.withUnsafeBufferPointer { net.embed($0, count: n) }
                precondition(e.count == n * config.embeddingSize)
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            _ = pass()  // warm-up
            var times: [Double] = []
            var total = 0.0
            while times.count < minIterations || total < minSeconds {
                let t = pass()
                times.append(t)
                total += t
            }
            times.sort()
            let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
            let ips = Double(n) / median
            // Efficiency: the FLOPs the GEMMs actually issue per second over the FMA ceiling.
            let issued = net.issuedFlopsPerImage(batch: min(n, IResNet.chunkSize))
            print(String(format: "%5d  %6d  %8.1f  %6.2f  %8.1f  %7.1f  ",
                         n, times.count, median * 1000, ips, median * 1000 / Double(n), ips * gflop) + ProcessMemory.peakDescription
                  + String(format: "  %18.2f  %18.1f  %9.1f%%", issued / 1e9, ceiling / issued, 100 * ips * issued / ceiling))
            fflush(nil)  // one line per batch size as it finishes, also into a pipe
            if phases { timePhases(batch: n, passes: max(3, min(times.count, 20)), ceiling: ceiling, pass: { _ = pass() }) }
        }
    }

    /// Runs `passes` more passes with `Phases` recording and prints where their time went.
    func timePhases(batch n: Int, passes: Int, ceiling: Double, pass: () -> Void) {
        Phases.record(true)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<passes { pass() }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start)
        Phases.record(false)
        let totals = Phases.snapshot()
        let images = Double(n * passes)
        print("  phases at batch \(n), \(passes) passes (timed separately; ms per image, share of the pass, GEMM GFLOP/s and share of the FMA ceiling):")
        func row(_ name: String, _ ns: Double, _ flops: Double) {
            let gemm = flops > 0 ? String(format: "  %7.1f GFLOP/s  %5.1f%%", flops / ns, 100 * flops / ns * 1e9 / ceiling) : ""
            let label = name.count < 60 ? name + String(repeating: " ", count: 60 - name.count) : name
            print("    " + label + String(format: " %8.2f ms  %5.1f%%", ns / 1e6 / images, 100 * ns / wall) + gemm)
        }
        var timed = 0.0
        for phase in Set(totals.keys.map(\.phase)).sorted() {
            let keys = totals.keys.filter { $0.phase == phase }.sorted()
            let ns = keys.reduce(0.0) { $0 + Double(totals[$1]!.nanoseconds) }
            let flops = keys.reduce(0.0) { $0 + totals[$1]!.flops }
            timed += ns
            row(phase, ns, flops)
            if keys.count > 1 {
                for key in keys { row("  " + key.layers, Double(totals[key]!.nanoseconds), totals[key]!.flops) }
            }
        }
        row("the rest (untimed: allocation, glue)", max(0, wall - timed), 0)
        row("whole pass", wall, 0)
        fflush(nil)
    }
}
