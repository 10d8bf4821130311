import COpenBLAS
import Foundation

/// Fréchet distance between two Gaussians fitted to feature sets (Heusel et al. 2017, the
/// formula behind FID): ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½).
///
/// Here the features are the scene checker's, so the number is ours, comparable only between
/// runs of the same checker — not Inception FID. Tr((Σ₁Σ₂)^½) is computed as
/// Tr((Σ₁^½ Σ₂ Σ₁^½)^½), where both roots are of symmetric positive semi-definite matrices and
/// come from LAPACK's `dsyev` (OpenBLAS) in double precision.
public enum FrechetDistance {
    public struct Gaussian: Sendable {
        public var mean: [Double]
        /// Row-major `d × d`, unbiased (n − 1).
        public var covariance: [Double]
        public var dimension: Int { mean.count }
    }

    /// Mean and covariance of `rows` (each of the same length; at least two rows).
    public static func fit(_ rows: [[Float]]) -> Gaussian {
        let n = rows.count, d = rows.first?.count ?? 0
        var mean = [Double](repeating: 0, count: d)
        for r in rows { for j in 0..<d { mean[j] += Double(r[j]) } }
        for j in 0..<d { mean[j] /= Double(max(n, 1)) }
        var cov = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: n * d)
        for (i, r) in rows.enumerated() { for j in 0..<d { centred[i * d + j] = Double(r[j]) - mean[j] } }
        // cov = Xᵀ X / (n − 1)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(n), 1 / Double(max(n - 1, 1)),
                    centred, Int32(d), centred, Int32(d), 0, &cov, Int32(d))
        return Gaussian(mean: mean, covariance: cov)
    }

    public static func distance(_ a: Gaussian, _ b: Gaussian) -> Double {
        let d = a.dimension
        precondition(d == b.dimension && d > 0)
        var meanTerm = 0.0
        for j in 0..<d { meanTerm += (a.mean[j] - b.mean[j]) * (a.mean[j] - b.mean[j]) }
        var trace = 0.0
        for j in 0..<d { trace += a.covariance[j * d + j] + b.covariance[j * d + j] }
        let rootA = symmetricFunction(a.covariance, d) { $0.squareRoot() }
        // M = √Σ₁ Σ₂ √Σ₁
        var tmp = [Double](repeating: 0, count: d * d), m = [Double](repeating: 0, count: d * d)
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, Int32(d), Int32(d), 1, rootA, Int32(d), b.covariance, Int32(d), 0, &tmp, Int32(d))
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, tmp, Int32(d), rootA, Int32(d), 0, &m, Int32(d))
        let eig = eigenvalues(symmetrised(m, d), d)
        let traceRoot = eig.reduce(0) { $0 + max($1, 0).squareRoot() }
        return max(0, meanTerm + trace - 2 * traceRoot)
    }

    static func symmetrised(_ m: [Double], _ d: Int) -> [Double] {
        var s = m
        for i in 0..<d { for j in 0..<d { s[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]) } }
        return s
    }

    /// Eigenvalues of a symmetric matrix (ascending).
    static func eigenvalues(_ m: [Double], _ d: Int) -> [Double] { eigen(m, d, vectors: false).values }

    /// f(S) = V f(Λ) Vᵀ for symmetric S (negative eigenvalues from round-off clamp to 0).
    static func symmetricFunction(_ s: [Double], _ d: Int, _ f: (Double) -> Double) -> [Double] {
        let (w, v) = eigen(s, d, vectors: true)
        // v is column-major from LAPACK: column k (eigenvector k) is v[k*d ..< (k+1)*d].
        var scaled = v
        for k in 0..<d {
            let fk = f(max(w[k], 0))
            for i in 0..<d { scaled[k * d + i] *= fk }
        }
        var out = [Double](repeating: 0, count: d * d)
        // out = V diag(f) Vᵀ; with column-major V as row-major Vᵀ: out = (Vᵀ)ᵀ·diag·Vᵀ.
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, scaled, Int32(d), v, Int32(d), 0, &out, Int32(d))
        return out
    }

    static func eigen(_ m: [Double], _ d: Int, vectors: Bool) -> (values: [Double], vectors: [Double]) {
        var a = m  // symmetric, so row- and column-major agree
        var w = [Double](repeating: 0, count: d)
        var n = Int32(d), lda = Int32(d), info: Int32 = 0, lwork: Int32 = -1
        var query = 0.0
        let jobz: CChar = vectors ? 0x56 : 0x4E  // "V" / "N"
        let uplo: CChar = 0x55  // "U"
        var jz = jobz, ul = uplo
        dsyev_(&jz, &ul, &n, &a, &lda, &w, &query, &lwork, &info, 1, 1)
        lwork = Int32(max(query, Double(3 * d)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dsyev_(&jz, &ul, &n, &a, &lda, &w, &work, &lwork, &info, 1, 1)
        return (w, a)
    }
}
