import ArgumentParser
import FeatureStore
import Foundation
import IResNet
import Imaging
import Tensor
import ZeroMQ
import Base

/// `magfleet doctor`: checks that this host can run a worker, and says what to install if not.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this host's libraries, CPU and settings; run it first on every worker host.",
        discussion: """
            Exits non-zero, naming the Debian package to install, when a library is missing or \
            unusable. A library missing from disk stops the dynamic loader before magfleet \
            starts; Deploy/host-check.sh maps the loader's message to the package.

            Examples:
              magfleet doctor
              magfleet doctor --json
            """)

    @Flag(help: "Print the report as JSON.")
    var json = false

    struct Check: Codable {
        var name: String
        var ok: Bool
        var detail: String
        /// What to do when the check fails.
        var fix: String?
    }

    struct Report: Codable {
        var version: String
        var host: HostInfo
        var checks: [Check]
    }

    func run() throws {
        let report = Report(version: magfleetVersion, host: HostInfo.current(), checks: Self.checks())
        if json {
            try Console.printJSON(report)
        } else {
            print(Self.render(report))
        }
        let failed = report.checks.filter { !$0.ok }
        if !failed.isEmpty {
            Console.error("doctor: \(failed.count) check(s) failed: \(failed.map(\.name).joined(separator: ", "))")
            throw ExitCode.failure
        }
    }

    static func checks() -> [Check] {
        var checks: [Check] = []

        let blasOK = blasSelfTest()
        checks.append(Check(
            name: "OpenBLAS",
            ok: blasOK,
            detail: "\(BLAS.configuration.trimmingCharacters(in: .whitespaces)); core \(BLAS.coreName); \(BLAS.threadCount) threads; sgemm self-test \(blasOK ? "passed" : "FAILED")",
            fix: blasOK ? nil : "OpenBLAS computes wrong results on this CPU (core \(BLAS.coreName)): install a current libopenblas0-pthread (apt-get install libopenblas-dev) or set OPENBLAS_CORETYPE to an older core such as Haswell"))

        let turbo = CodecLibraries.isJPEGTurbo
        checks.append(Check(
            name: "libjpeg-turbo",
            ok: turbo,
            detail: CodecLibraries.jpegVersion,
            fix: turbo ? nil : "magfleet decodes with libjpeg-turbo's BGR output: apt-get install libjpeg-dev (libjpeg62-turbo-dev)"))

        checks.append(Check(name: "libpng", ok: true, detail: CodecLibraries.pngVersion, fix: nil))

        let zmqVersion = ZeroMQLibrary.version
        let zmqNew = versionAtLeast(zmqVersion, 4, 2)
        checks.append(Check(
            name: "libzmq",
            ok: zmqNew,
            detail: zmqVersion,
            fix: zmqNew ? nil : "libzmq 4.2 or newer is needed: apt-get install libzmq3-dev"))
        let curve = ZeroMQLibrary.hasCurve
        checks.append(Check(
            name: "CURVE",
            ok: curve,
            detail: curve ? "available" : "libzmq was built without CURVE",
            fix: curve ? nil : "install Debian's libzmq5 (apt-get install libzmq3-dev), which is built with libsodium"))

        let h5 = HDF5Library.version
        let h5OK = h5.map { versionAtLeast($0, 1, 10) } ?? false
        checks.append(Check(
            name: "HDF5",
            ok: h5OK,
            detail: h5 ?? "version unavailable",
            fix: h5OK ? nil : "HDF5 1.10 or newer is needed: apt-get install libhdf5-dev"))

        let host = HostInfo.current()
        let missing = HostCPU.missing
        checks.append(Check(
            name: "CPU",
            ok: missing.isEmpty,
            detail: "\(host.cpuModel); \(host.logicalCores) logical cores; SIMD: \(host.simdFeatures.joined(separator: " "))"
                + (missing.isEmpty ? "" : "; lacks \(missing.joined(separator: ", "))"),
            fix: missing.isEmpty ? nil : "the engine's kernels are built for x86-64-v3 (AVX2 + FMA: Intel Haswell, AMD Zen or later); run workers on such hosts"))
        return checks
    }

    /// A 37x29x41 sgemm against a double-precision naive product: catches an OpenBLAS that
    /// picked a kernel this CPU runs wrongly. Tolerance: 1e-4 relative to the row's magnitude.
    static func blasSelfTest() -> Bool {
        let m = 37, n = 29, k = 41
        var rng = SeededGenerator(seed: 0x9E37_79B9_7F4A_7C15)
        func next() -> Float { Float(rng.uniform(-1, 1)) }
        let a = (0..<(m * k)).map { _ in next() }
        let b = (0..<(k * n)).map { _ in next() }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let term = Double(a[i * k + p]) * Double(b[p * n + j])
                    sum += term
                    magnitude += abs(term)
                }
                if abs(Double(c[i * n + j]) - sum) > 1e-4 * max(magnitude, 1) { return false }
            }
        }
        return true
    }

    static func versionAtLeast(_ version: String, _ major: Int, _ minor: Int) -> Bool {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return false }
        return (parts[0], parts[1]) >= (major, minor)
    }

    static func render(_ report: Report) -> String {
        var lines = ["magfleet \(report.version) doctor"]
        let width = report.checks.map(\.name.count).max() ?? 0
        for check in report.checks {
            let mark = check.ok ? "ok  " : "FAIL"
            lines.append("  \(mark) \(check.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(check.detail)")
            if let fix = check.fix { lines.append("       fix: \(fix)") }
        }
        return lines.joined(separator: "\n")
    }
}
