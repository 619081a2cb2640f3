import Foundation
import Testing
import Base

/// FloatText against C's strtof, bit for bit: the value (NaN compared as NaN) and the bytes taken.
struct FloatTextTests {
    static func strtofReference(_ text: String) -> (Float, Int) {
        text.withCString { p in
            var end: UnsafeMutablePointer<CChar>?
            let v = strtof(p, &end)
            return (v, end.map { $0 - UnsafeMutablePointer(mutating: p) } ?? 0)
        }
    }

    static func check(_ text: String, _ failures: inout [String]) {
        let (expected, used) = strtofReference(text)
        let bytes = Array(text.utf8)
        let got = bytes.withUnsafeBufferPointer { FloatText.parse($0) }
        if used == 0 {
            if got != nil { failures.append("\(text): parsed \(got!) where strtof takes nothing") }
            return
        }
        guard let got else { return failures.append("\(text): nil, strtof \(expected)") }
        let same = expected.isNaN ? got.value.isNaN : got.value.bitPattern == expected.bitPattern
        if !same || got.length != used { failures.append("\(text): \(got.value) (\(got.length) bytes), strtof \(expected) (\(used))") }
    }

    @Test func edgeCases() {
        var failures: [String] = []
        for text in ["0", "-0", "+0", "0.0", "-0.000", "1", "-1", "1.", ".5", "+.5e+2", "1e", "1e+", "1.5x", "1,5",
                     "1e-45", "1.4e-45", "7e-46", "1.17549435e-38", "1.1754942e-38", "3.4028235e38", "3.4028236e38",
                     "3.40282357e38", "1e39", "-1e39", "inf", "-inf", "Infinity", "nan", "NaN", "0x1p-3", "0X1.8p1",
                     "00000000000000000000000001", "1234567890123456789012345", "0.000000000000000000000000000001",
                     "9007199254740993", "16777217", "16777219", "0.1", "0.2", "0.3", "1e22", "1e23", "1e-22", "1e-23",
                     "4.5e-44", "8.5070592e37", "2.3509886e-38", ".", "-", "+", "e5", "-.e1"] {
            Self.check(text, &failures)
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    /// Random Floats as Swift prints them (features.list's own form), as %.9g, %e and %.4f.
    @Test func randomFloatsInEveryNotation() {
        var rng = SeededGenerator(seed: 0xF10A7)
        var failures: [String] = []
        for _ in 0..<60_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard f.isFinite else { continue }
            for text in [f.description, String(format: "%.9g", Double(f)), String(format: "%.6e", Double(f)),
                         String(format: "%.4f", Double(f)).prefix(60).description] {
                Self.check(text, &failures)
            }
            if failures.count > 20 { break }
        }
        #expect(failures.isEmpty, "\(failures.prefix(20))")
    }

    /// Decimals close to the midpoint between two adjacent Floats: the cases where a Double
    /// in between could round twice the wrong way.
    @Test func nearMidpoints() {
        var rng = SeededGenerator(seed: 0x3D9017)
        var failures: [String] = []
        for _ in 0..<40_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7FFF_FFFF)
            guard f.isFinite, f.nextUp.isFinite else { continue }
            let mid = (Double(f) + Double(f.nextUp)) / 2
            for digits in [9, 12, 16, 17, 18, 19, 20, 25] { Self.check(String(format: "%.\(digits)g", mid), &failures) }
            if failures.count > 20 { break }
        }
        #expect(failures.isEmpty, "\(failures.prefix(20))")
    }

    /// Random digit strings: 1 to 25 digits, a point anywhere, exponents from -50 to 50.
    @Test func randomDecimals() {
        var rng = SeededGenerator(seed: 0xDEC1)
        var failures: [String] = []
        for _ in 0..<100_000 {
            let count = Int(rng.next() % 25) + 1
            var digits = (0..<count).map { _ in Character(String(rng.next() % 10)) }
            if rng.next() % 2 == 0 { digits.insert(".", at: Int(rng.next() % UInt64(count + 1))) }
            var text = (rng.next() % 3 == 0 ? "-" : "") + String(digits)
            if rng.next() % 2 == 0 { text += "e\(Int(rng.next() % 101) - 50)" }
            Self.check(text, &failures)
            if failures.count > 20 { break }
        }
        #expect(failures.isEmpty, "\(failures.prefix(20))")
    }
}
