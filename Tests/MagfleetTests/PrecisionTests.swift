import Foundation
import IResNet
import Imaging
import Testing
import Base
import ClusterCore
@testable import magfleet

/// `--precision bf16` is part of the model: the ModelInfo fingerprint a worker announces and the
/// coordinator expects, and the fingerprint a store records, both say it, so a bf16 worker is
/// refused by an f32 run and no store holds both kinds of rows.
@Suite struct PrecisionTests {
    static let checkpoint = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("IResNetTests/Fixtures/tiny_magface.pth")

    @Test func theFingerprintsRecordThePrecision() throws {
        #expect(IResNetEmbedder.fingerprint("ab12", precision: .f32, isRandom: false) == "sha256:ab12")
        #expect(IResNetEmbedder.fingerprint("ab12", precision: .bf16, isRandom: true) == "sha256:ab12+bf16 (RANDOM WEIGHTS)")
        for precision in Precision.allCases {
            #expect(IResNetEmbedder.precision(ofRecorded: IResNetEmbedder.weightsFingerprint("ab12", precision: precision)) == precision)
        }
        // The coordinator's model card (no network built) against itself in the other precision.
        let identity = try IResNet.identity(checkpoint: Self.checkpoint)
        let preprocessing = Preprocessing(preset: .magface)
        let f32 = IResNetModelCard(identity: identity, precision: .f32, preprocessing: preprocessing)
        let bf16 = IResNetModelCard(identity: identity, precision: .bf16, preprocessing: preprocessing)
        #expect(f32.model.mismatch(bf16.model) != nil)
        #expect(f32.model.differences(bf16.model) == ["fingerprint \(bf16.model.fingerprint) != \(f32.model.fingerprint)"])
        #expect(Coordinator.provenance(of: bf16).modelFingerprint == identity.fingerprint + "+bf16")
        #expect(Coordinator.provenance(of: f32).modelFingerprint == identity.fingerprint)
    }

    /// A worker's embedder in bf16 announces what the coordinator's bf16 card expects.
    @Test(.enabled(if: HostCPU.hasAVX512BF16, "bf16 needs AVX512_BF16"))
    func aBF16WorkerMatchesABF16Coordinator() throws {
        let preprocessing = Preprocessing(preset: .magface)
        let network = try IResNet(checkpoint: Self.checkpoint, precision: .bf16)
        let worker = IResNetEmbedder(network: network, preprocessing: preprocessing)
        let card = IResNetModelCard(identity: try IResNet.identity(checkpoint: Self.checkpoint), precision: .bf16,
                                    preprocessing: preprocessing)
        #expect(worker.model == card.model)
        #expect(worker.model.fingerprint.hasSuffix("+bf16"))
    }
}
