import Testing
@testable import Tensor
import Base

@Suite struct BLASTests {
    @Test func reportsOpenBLASConfiguration() {
        #expect(BLAS.configuration.contains("OpenBLAS"))
        #expect(!BLAS.coreName.isEmpty)
        #expect(BLAS.threadCount >= 1)
    }

    @Test func transposedGEMMMatchesNaive() {
        // a is stored k x m (transposed), b is n x k (transposed): c = aᵀ bᵀ.
        let m = 5, n = 3, k = 4
        let a: [Float] = (0..<(k * m)).map { Float($0 % 7) - 3.5 }
        let b: [Float] = (0..<(n * k)).map { Float($0 % 5) * 0.25 - 0.6 }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(transposeA: true, transposeB: true, m: m, n: n, k: k, a: a, lda: m, b: b, ldb: k, c: &c, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                var expected: Float = 0
                for p in 0..<k { expected += a[p * m + i] * b[j * k + p] }
                #expect(abs(c[i * n + j] - expected) <= 1e-5)
            }
        }
    }
}
