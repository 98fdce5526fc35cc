import CBLAS

/// Single-precision matrix multiply: the only place the engine calls BLAS.
///
/// All matrices are row-major. `C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C[m, n]`.
enum GEMM {
    /// Sets the number of OpenBLAS threads.
    static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// `C = alpha * op(A) * op(B) + beta * C` through `cblas_sgemm`.
    ///
    /// - Parameters:
    ///   - transA: use `A^T` (A stored as `[k, m]` with leading dimension `lda`).
    ///   - transB: use `B^T` (B stored as `[n, k]` with leading dimension `ldb`).
    static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `sgemm` split over the engine's threads along M or N (whichever duplicates less packing), each part a
    /// single-threaded BLAS call. BLAS itself runs single-threaded (`Engine.prepared`), so no thread ever spins.
    static func parallel(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                         a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                         beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let workers = Engine.threads
        if workers <= 1 || 2 * m * n * k < 1 << 21 {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let ap = SharedReadPointer(a), bp = SharedReadPointer(b), cp = SharedPointer(c)
        // Splitting M makes every worker pack all of B (k x n); splitting N makes each pack all of A (m x k).
        let splitRows = m * k <= n * k ? false : true
        let extent = splitRows ? m : n
        let parts = min(workers, max(1, extent / 16))
        let step = ((extent + parts - 1) / parts + 15) / 16 * 16
        parallelFor(parts, grain: Int.max / parts) { i in
            let lo = i * step, hi = min(extent, lo + step)
            if lo >= hi { return }
            if splitRows {
                let aPart = transA ? ap.base + lo : ap.base + lo * lda
                sgemm(transA: transA, transB: transB, m: hi - lo, n: n, k: k, a: aPart, lda: lda, b: bp.base, ldb: ldb,
                      beta: beta, c: cp.base + lo * ldc, ldc: ldc)
            } else {
                let bPart = transB ? bp.base + lo * ldb : bp.base + lo
                sgemm(transA: transA, transB: transB, m: m, n: hi - lo, k: k, a: ap.base, lda: lda, b: bPart, ldb: ldb,
                      beta: beta, c: cp.base + lo, ldc: ldc)
            }
        }
    }

    /// Reference triple loop with the same contract as `sgemm`, accumulating in Double (tests only).
    static func naive(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    acc += Double(av) * Double(bv)
                }
                let prior = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(acc) + prior
            }
        }
    }
}
