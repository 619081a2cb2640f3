import Testing
@testable import Evaluation

/// Issue 18, "numbers that never round to a lie": a share below 1 never prints as 100.00%, and
/// a nonzero one never as 0.00%.
struct PercentTests {
    @Test func sharesNearTheEndsGetTheDigitsTheyNeed() {
        #expect(HTML.percent(0.9999926) == "99.999%")   // best accuracy on 1M rows, was "100.00%"
        #expect(HTML.percent(28.0 / 1_000_000) == "0.003%")  // 28 of 1M High rows, was "0.00%"
        #expect(HTML.percent(0.5) == "50.00%")
        #expect(HTML.percent(0.97894) == "97.89%")
        #expect(HTML.percent(1) == "100.00%" && HTML.percent(0) == "0.00%")
        #expect(HTML.percent(1e-12) == "< 0.000001%")
        #expect(HTML.percent(1 - 1e-12) == "> 99.999999%")
        #expect(HTML.percent(0.00004, 1) == "0.004%")
    }
}
