import Testing
import Cluster

/// The worker's batch-size calibration, with the times handed in (no clock, no sleeps).
struct BatchCalibrationTests {
    /// Feeds each handed-out size a batch that takes `secondsPerImage(size)` per image.
    func calibrate(_ c: inout BatchCalibration, _ secondsPerImage: (Int) -> Double, batches: Int) -> [Int] {
        var sizes: [Int] = []
        for _ in 0..<batches {
            let size = c.takeSize()
            sizes.append(size)
            c.record(count: size, seconds: secondsPerImage(size) * Double(size))
        }
        return sizes
    }

    @Test func triesEachCandidateInTurnThenKeepsTheFastest() {
        var c = BatchCalibration(candidates: [1, 2, 4, 8, 16], rounds: 2)
        // Batch 8 fastest; the warm-up batch of each size is slow and must not count.
        var warm: Set<Int> = []
        let sizes = (0..<20).map { _ -> Int in
            let size = c.takeSize()
            let perImage = warm.insert(size).inserted ? 1.0 : (size == 8 ? 0.040 : 0.050)
            c.record(count: size, seconds: perImage * Double(size))
            return size
        }
        #expect(Array(sizes.prefix(15)) == [1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16])
        #expect(c.chosen == 8)
        #expect(sizes.suffix(5).allSatisfy { $0 == 8 })
        #expect(c.measured.first { $0.size == 8 }!.imagesPerSecond == 25)
    }

    @Test func shortBatchesAndLateRecordsDoNotConfuseIt() {
        var c = BatchCalibration(candidates: [1, 4], rounds: 1)
        // A shard's short last batch of 3: not a candidate, ignored.
        c.record(count: 3, seconds: 0.001)
        _ = calibrate(&c, { $0 == 1 ? 0.030 : 0.020 }, batches: 4)
        #expect(c.chosen == 4)
        // Once chosen, later times change nothing.
        c.record(count: 1, seconds: 0.0001)
        #expect(c.chosen == 4 && c.takeSize() == 4)
    }

    @Test func tiesGoToTheSmallerBatch() {
        var c = BatchCalibration(candidates: [16, 1], rounds: 1)
        _ = calibrate(&c, { _ in 0.025 }, batches: 4)
        #expect(c.chosen == 1)
    }

    @Test func theFixedRuleFollowsTheCPU() {
        #expect(BatchSizing.engineRule(cpu: "AMD EPYC 9B45 128-Core Processor") == 1)
        #expect(BatchSizing.engineRule(cpu: "Intel(R) Xeon(R) Processor") == 8)
    }
}
