#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decimal text to Float, bit-exact with C's `strtof` (round to nearest, ties to even) and
/// several times faster: `features.list` files are hundreds of MB of such numbers.
///
/// Why hand-written (docs/performance.md, "Reading features.list"): Swift's `Float(Substring)`
/// goes through a String per field, and strtof needs a NUL-terminated copy and the C locale's
/// machinery. The fast path is Clinger's: up to 19 significant digits fit a UInt64 exactly,
/// and with a power of ten up to 10^22 (exact in Double) one Double multiply or divide gives
/// the correctly rounded Double of the decimal. Rounding that Double to Float is the correct
/// Float unless the Double is exactly halfway between two Floats (only then can double
/// rounding differ: a value cannot cross a representable midpoint). Those halfway cases, more
/// than 19 digits, exponents past ±22, results outside Float's normal range, `inf`/`nan` and
/// hex floats go to strtof itself, so every input gets strtof's answer.
public enum FloatText {
    /// Parses one number at the start of `bytes` (no leading blanks).
    /// - Returns: the value and how many bytes it took; nil when no number starts there.
    @inlinable
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> (value: Float, length: Int)? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        let n = bytes.count
        var i = 0
        var negative = false
        if base[0] == UInt8(ascii: "-") || base[0] == UInt8(ascii: "+") {
            negative = base[0] == UInt8(ascii: "-")
            i = 1
        }
        var mantissa: UInt64 = 0
        var digits = 0          // significant digits taken into `mantissa`
        var dropped = false     // a nonzero digit past the 19th
        var exponent = 0        // decimal exponent of `mantissa`'s last digit
        var sawDigit = false
        while i < n, base[i] &- 48 < 10 {
            sawDigit = true
            let d = UInt64(base[i] &- 48)
            if digits < 19 {
                if mantissa != 0 || d != 0 { mantissa = mantissa &* 10 &+ d; digits += mantissa == 0 ? 0 : 1 }
            } else {
                exponent += 1
                if d != 0 { dropped = true }
            }
            i += 1
        }
        if i < n, base[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, base[i] &- 48 < 10 {
                sawDigit = true
                let d = UInt64(base[i] &- 48)
                if digits < 19 {
                    if mantissa != 0 || d != 0 { mantissa = mantissa &* 10 &+ d; digits += mantissa == 0 ? 0 : 1 }
                    exponent -= 1
                } else if d != 0 {
                    dropped = true
                }
                i += 1
            }
        }
        guard sawDigit else { return slow(bytes) }  // inf, nan, or not a number
        if i < n, base[i] | 0x20 == UInt8(ascii: "e") {
            var j = i + 1
            var expNegative = false
            if j < n, base[j] == UInt8(ascii: "-") || base[j] == UInt8(ascii: "+") {
                expNegative = base[j] == UInt8(ascii: "-")
                j += 1
            }
            if j < n, base[j] &- 48 < 10 {
                var e = 0
                while j < n, base[j] &- 48 < 10 {
                    if e < 100_000 { e = e * 10 + Int(base[j] &- 48) }
                    j += 1
                }
                exponent += expNegative ? -e : e
                i = j
            }
        }
        if i < n, base[i] == UInt8(ascii: "x") || base[i] == UInt8(ascii: "X") { return slow(bytes) }  // 0x…
        if mantissa == 0 { return (negative ? -0.0 : 0.0, i) }
        guard !dropped, mantissa < (1 << 53), exponent >= -22, exponent <= 22 else { return slow(bytes) }
        var d = Double(mantissa)
        d = exponent < 0 ? d / powerOfTen(-exponent) : d * powerOfTen(exponent)
        // Float's normal range only (a subnormal Float drops more bits than the check below reads).
        guard d >= Double(Float.leastNormalMagnitude), d <= Double(Float.greatestFiniteMagnitude) else { return slow(bytes) }
        // Exactly halfway between two Floats: the Double's 29 bits below Float's precision are 1000…0.
        guard d.bitPattern & 0x1FFF_FFFF != 0x1000_0000 else { return slow(bytes) }
        let f = Float(d)
        return (negative ? -f : f, i)
    }

    /// 10^e for 0 ≤ e ≤ 22, every one exact in Double (a switch of constants: no lazy table to
    /// initialize on the hot path).
    @inlinable
    static func powerOfTen(_ e: Int) -> Double {
        switch e {
        case 0: 1e0
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        case 18: 1e18
        case 19: 1e19
        case 20: 1e20
        case 21: 1e21
        default: 1e22
        }
    }

    /// strtof on a NUL-terminated copy of the field (the rare inputs the fast path leaves).
    @usableFromInline
    static func slow(_ bytes: UnsafeBufferPointer<UInt8>) -> (value: Float, length: Int)? {
        var end = 0
        while end < bytes.count, !isSeparator(bytes[end]) { end += 1 }
        guard end > 0 else { return nil }
        var copy = [CChar](repeating: 0, count: end + 1)
        for k in 0..<end { copy[k] = CChar(bitPattern: bytes[k]) }
        return copy.withUnsafeBufferPointer { p -> (Float, Int)? in
            var stop: UnsafeMutablePointer<CChar>?
            let value = strtof(p.baseAddress!, &stop)
            let used = stop.map { $0 - UnsafeMutablePointer(mutating: p.baseAddress!) } ?? 0
            return used > 0 ? (value, used) : nil
        }
    }

    /// Space, tab, CR, LF.
    @inlinable
    public static func isSeparator(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 13 || b == 10 }
}
