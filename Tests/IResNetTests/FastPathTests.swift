import Foundation
import Base
import Imaging
import Testing
@testable import IResNet

/// The fast path (Winograd) against the exact one (im2col) on a full-width network and a
/// labelled set of faces: same embeddings to the bar, and the same rank-1 decisions.
@Suite struct FastPathTests {
    /// iresnet18 by default (seconds); `MAGFLEET_RANK1_ARCH=iresnet100` runs the deep network
    /// (docs/engine.md records that run).
    static var arch: IResNetConfig {
        switch ProcessInfo.processInfo.environment["MAGFLEET_RANK1_ARCH"] {
        case "iresnet34": .iresnet34
        case "iresnet50": .iresnet50
        case "iresnet100": .iresnet100
        default: .iresnet18
        }
    }

    @Test func rank1UnchangedOnLabelledFaces() throws {
        // 24 synthetic identities: variant 0 is the gallery, variants 1 and 2 are probes.
        let faces = SyntheticFaces(seed: 9)
        let identities = 24, probesPer = 2
        var gallery: [Float] = [], probes: [Float] = [], probeLabels: [Int] = []
        let preprocessing = Preprocessing(preset: .magface)
        func append(_ identity: Int, _ variant: Int, to batch: inout [Float]) {
            let image = BGRImage(width: SyntheticFaces.side, height: SyntheticFaces.side,
                                 pixels: faces.render(faces.identity(identity), variant: variant))
            var x = [Float](repeating: 0, count: Preprocessing.floatsPerImage)
            x.withUnsafeMutableBufferPointer { preprocessing.write(image, into: $0) }
            batch += x
        }
        for i in 0..<identities {
            append(i, 0, to: &gallery)
            for v in 1...probesPer {
                append(i, v, to: &probes)
                probeLabels.append(i)
            }
        }
        let config = Self.arch, d = config.embeddingSize
        var results: [ConvolutionMode: (probe: [Float], gallery: [Float])] = [:]
        for mode in ConvolutionMode.allCases {
            let net = IResNet.random(config: config, seed: 5, mode: mode)
            results[mode] = (net.embed(probes), net.embed(gallery))
        }
        let exact = try #require(results[.exact]), fast = try #require(results[.fast])
        // --precision bf16 where the CPU has it: cosine >= 0.9995 to the exact path (issue 20's
        // bar), and the same rank-1 decisions.
        var bf16: (probe: [Float], gallery: [Float])?
        if HostCPU.hasAVX512BF16 {
            let net = try IResNet.random(config: config, seed: 5, precision: .bf16)
            let r = (net.embed(probes), net.embed(gallery))
            bf16 = r
            var worst = 1.0
            for (a, b) in [(exact.probe, r.0), (exact.gallery, r.1)] {
                for i in 0..<(a.count / d) {
                    let x = a[(i * d)..<((i + 1) * d)].map(Double.init), y = b[(i * d)..<((i + 1) * d)].map(Double.init)
                    let dot: Double = zip(x, y).map(*).reduce(0, +)
                    let xx: Double = x.map { $0 * $0 }.reduce(0, +), yy: Double = y.map { $0 * $0 }.reduce(0, +)
                    let cosine = dot / (xx * yy).squareRoot()
                    worst = min(worst, cosine)
                    #expect(cosine >= 0.9995, "bf16 image \(i): cosine \(cosine)")
                }
            }
            print("bf16 (\(config)): lowest cosine to the exact path \(worst)")
        }
        // Every embedding within the bar of the float64 checks.
        for (a, b) in [(exact.probe, fast.probe), (exact.gallery, fast.gallery)] {
            for i in 0..<(a.count / d) {
                let x = a[(i * d)..<((i + 1) * d)].map(Double.init), y = b[(i * d)..<((i + 1) * d)].map(Double.init)
                let dot = zip(x, y).map(*).reduce(0, +)
                let cosine = dot / (x.map { $0 * $0 }.reduce(0, +) * y.map { $0 * $0 }.reduce(0, +)).squareRoot()
                #expect(cosine >= 0.99999, "image \(i): cosine \(cosine)")
            }
        }
        // Rank-1 by cosine similarity: the same gallery identity for every probe.
        func rank1(_ r: (probe: [Float], gallery: [Float])) -> [Int] {
            func unit(_ v: ArraySlice<Float>) -> [Double] {
                let n = v.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
                return v.map { Double($0) / n }
            }
            func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }
            let g = (0..<identities).map { unit(r.gallery[($0 * d)..<(($0 + 1) * d)]) }
            return (0..<probeLabels.count).map { p in
                let q = unit(r.probe[(p * d)..<((p + 1) * d)])
                let scores: [Double] = g.map { dot(q, $0) }
                return scores.indices.max { scores[$0] < scores[$1] }!
            }
        }
        let exactRank1 = rank1(exact), fastRank1 = rank1(fast)
        #expect(exactRank1 == fastRank1)
        if let bf16 { #expect(rank1(bf16) == exactRank1) }
        let correct = zip(fastRank1, probeLabels).filter { $0 == $1 }.count
        print("rank-1 (\(config), random weights): exact \(zip(exactRank1, probeLabels).filter { $0 == $1 }.count)/\(probeLabels.count), fast \(correct)/\(probeLabels.count)")
    }
}
