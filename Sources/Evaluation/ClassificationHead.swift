import Foundation
import Base

/// The classification head's weights: Linear(D->H) -> ReLU -> Dropout -> Linear(H->C), in
/// PyTorch's layout (`w1` is `H x D`, `w2` is `C x H`, row-major). magfleet saves them as
/// HDF5 (`head.h5`, docs/metrics.md, "Head weights file"); this module does no file I/O.
public struct HeadWeights: Sendable, Equatable {
    /// The `format` attribute of a head file, and its `format_version`.
    public static let formatName = "magfleet-head"
    public static let formatVersion = 1
    public var inputDimension: Int
    public var hidden: Int
    public var labelNames: [String]
    public var w1: [Float]
    public var b1: [Float]
    public var w2: [Float]
    public var b2: [Float]
    public var classes: Int { labelNames.count }

    /// PyTorch's default Linear init: weights and biases uniform in +-1/sqrt(fan_in).
    public init(inputDimension d: Int, hidden h: Int, labelNames: [String], using rng: inout SeededGenerator) {
        inputDimension = d
        hidden = h
        self.labelNames = labelNames
        let c = labelNames.count
        func uniform(_ n: Int, _ bound: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -bound...bound, using: &rng) } }
        w1 = uniform(h * d, 1 / Float(d).squareRoot())
        b1 = uniform(h, 1 / Float(d).squareRoot())
        w2 = uniform(c * h, 1 / Float(h).squareRoot())
        b2 = uniform(c, 1 / Float(h).squareRoot())
    }

    /// Weights read back from a file: `w1` is `hidden x inputDimension`, `b1` [hidden],
    /// `w2` is `C x hidden`, `b2` [C], with C = `labelNames.count`.
    ///
    /// - Throws: `EvaluationError.malformedHead` naming the first array whose length does
    ///   not match (or a dimension below 1).
    public init(inputDimension d: Int, hidden h: Int, labelNames: [String], w1: [Float], b1: [Float], w2: [Float], b2: [Float]) throws(EvaluationError) {
        let c = labelNames.count
        guard d >= 1, h >= 1, c >= 1 else { throw .malformedHead("dimensions D \(d), hidden \(h), classes \(c) must be at least 1") }
        for (name, count, expected) in [("w1", w1.count, h * d), ("b1", b1.count, h), ("w2", w2.count, c * h), ("b2", b2.count, c)] where count != expected {
            throw .malformedHead("\(name) has \(count) values, expected \(expected) (D \(d), hidden \(h), classes \(c))")
        }
        inputDimension = d
        hidden = h
        self.labelNames = labelNames
        self.w1 = w1
        self.b1 = b1
        self.w2 = w2
        self.b2 = b2
    }

    /// Class probabilities (softmax of the logits) for `n` unit-length rows `x` (`n x D`), in
    /// evaluation mode (no dropout). Returns `n x C`.
    public func probabilities(_ x: [Float], rows n: Int) -> [Float] {
        var logits = forward(x, rows: n, mask: nil).logits
        Self.softmaxRows(&logits, rows: n, columns: classes)
        return logits
    }

    /// `hidden` (after ReLU and the dropout mask, `n x H`) and `logits` (`n x C`).
    func forward(_ x: [Float], rows n: Int, mask: [Float]?) -> (hidden: [Float], logits: [Float]) {
        let d = inputDimension, h = hidden, c = classes
        var hid = [Float](repeating: 0, count: n * h)
        for i in 0..<n { for j in 0..<h { hid[i * h + j] = b1[j] } }
        BLAS.sgemm(transposeB: true, m: n, n: h, k: d, a: x, lda: d, b: w1, ldb: d, beta: 1, c: &hid, ldc: h)
        for k in hid.indices { hid[k] = max(hid[k], 0) * (mask?[k] ?? 1) }
        var logits = [Float](repeating: 0, count: n * c)
        for i in 0..<n { for j in 0..<c { logits[i * c + j] = b2[j] } }
        BLAS.sgemm(transposeB: true, m: n, n: c, k: h, a: hid, lda: h, b: w2, ldb: h, beta: 1, c: &logits, ldc: c)
        return (hid, logits)
    }

    static func softmaxRows(_ z: inout [Float], rows n: Int, columns c: Int) {
        for i in 0..<n {
            var m = -Float.infinity
            for j in 0..<c { m = max(m, z[i * c + j]) }
            var s: Float = 0
            for j in 0..<c { let e = expf(z[i * c + j] - m); z[i * c + j] = e; s += e }
            for j in 0..<c { z[i * c + j] /= s }
        }
    }

    /// Mean cross-entropy over the batch and its gradient with respect to every parameter
    /// (same layout as the weights). `mask` is the dropout mask already scaled by 1/(1-p)
    /// (`n x H`), nil for none.
    func lossAndGradients(_ x: [Float], labels: [Int], mask: [Float]?) -> (loss: Double, grads: HeadWeights) {
        let n = labels.count, d = inputDimension, h = hidden, c = classes
        let (hid, logits) = forward(x, rows: n, mask: mask)
        var p = logits
        Self.softmaxRows(&p, rows: n, columns: c)
        var loss = 0.0
        for i in 0..<n { loss -= Double(logf(max(p[i * c + labels[i]], Float.leastNormalMagnitude))) }
        loss /= Double(n)
        var dz = p  // n x C
        for i in 0..<n { dz[i * c + labels[i]] -= 1 }
        let scale = 1 / Float(n)
        for k in dz.indices { dz[k] *= scale }
        var g = self
        g.w2 = [Float](repeating: 0, count: c * h)
        BLAS.sgemm(transposeA: true, m: c, n: h, k: n, a: dz, lda: c, b: hid, ldb: h, c: &g.w2, ldc: h)
        g.b2 = (0..<c).map { j in (0..<n).reduce(Float(0)) { $0 + dz[$1 * c + j] } }
        var dh = [Float](repeating: 0, count: n * h)
        BLAS.sgemm(m: n, n: h, k: c, a: dz, lda: c, b: w2, ldb: h, c: &dh, ldc: h)
        for k in dh.indices where hid[k] <= 0 { dh[k] = 0 }  // ReLU (and dropped units: hid is 0 there)
        if let mask { for k in dh.indices { dh[k] *= mask[k] } }
        g.w1 = [Float](repeating: 0, count: h * d)
        BLAS.sgemm(transposeA: true, m: h, n: d, k: n, a: dh, lda: h, b: x, ldb: d, c: &g.w1, ldc: d)
        g.b1 = (0..<h).map { j in (0..<n).reduce(Float(0)) { $0 + dh[$1 * h + j] } }
        return (loss, g)
    }
}
