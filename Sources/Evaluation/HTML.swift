import Foundation

/// Small helpers for the HTML pages: escaping and number formatting.
enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func number(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
    /// A share as a percentage with `digits` decimals, never rounded to a lie: a value strictly
    /// between 0 and 1 that would print as 0.00% or 100.00% gets up to 4 more digits
    /// (0.0028%, 99.9993%), and past them prints as `< 0.000001%` or `> 99.999999%`.
    static func percent(_ x: Double, _ digits: Int = 2) -> String {
        func text(_ d: Int) -> String { String(format: "%.\(d)f", x * 100) }
        guard x > 0, x < 1 else { return text(digits) + "%" }
        for d in digits...(digits + 4) {
            let t = text(d)
            guard let shown = Double(t), shown == 0 || shown == 100 else { return t + "%" }
        }
        let last = digits + 4
        return x < 0.5 ? "< " + String(format: "%.\(last)f", pow(10, -Double(last))) + "%"
                       : "> " + String(format: "%.\(last)f", 100 - pow(10, -Double(last))) + "%"
    }
    /// 3,505 style.
    static func count(_ n: Int) -> String {
        let s = String(abs(n))
        var out = ""
        for (k, ch) in s.enumerated() {
            if k > 0, (s.count - k) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + out
    }
}
