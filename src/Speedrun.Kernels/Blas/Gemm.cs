namespace Speedrun.Kernels.Blas;

/// <summary>
/// One (strided-batched) GEMM in row-major terms: for each batch b,
/// C_b[M,N] = alpha * op(A_b)[M,K] * op(B_b)[K,N] + beta * C_b. op(X) is X or its transpose; lda, ldb and
/// ldc are row strides of the stored matrices (A stored M x K when not transposed, K x M when transposed).
/// </summary>
public readonly record struct Gemm(
    bool TransA, bool TransB, int M, int N, int K,
    int Lda, int Ldb, int Ldc,
    float Alpha = 1f, float Beta = 0f,
    int BatchCount = 1, long StrideA = 0, long StrideB = 0, long StrideC = 0)
{
    /// <summary>Densely packed C = op(A) op(B) with the natural leading dimensions.</summary>
    public static Gemm Dense(bool transA, bool transB, int m, int n, int k, float alpha = 1f, float beta = 0f) =>
        new(transA, transB, m, n, k, transA ? m : k, transB ? k : n, n, alpha, beta);

    /// <summary>Densely packed batches, each matrix directly after the previous one.</summary>
    public static Gemm DenseBatched(bool transA, bool transB, int m, int n, int k, int batch,
        float alpha = 1f, float beta = 0f) =>
        Dense(transA, transB, m, n, k, alpha, beta) with
        {
            BatchCount = batch, StrideA = (long)m * k, StrideB = (long)k * n, StrideC = (long)m * n,
        };

    /// <summary>Floating-point operations (2·M·N·K per matrix).</summary>
    public double Flops => 2.0 * M * N * K * BatchCount;

    long RequiredLength(bool trans, int rows, int cols, int ld, long stride)
    {
        int storedRows = trans ? cols : rows, storedCols = trans ? rows : cols;
        if (storedRows == 0 || storedCols == 0 || BatchCount == 0) return 0;
        return (BatchCount - 1) * stride + (long)(storedRows - 1) * ld + storedCols;
    }

    /// <summary>Throws an ArgumentException naming the op and every shape when the operands cannot hold
    /// this GEMM; called before any launch.</summary>
    public void Validate(string op, long lengthA, long lengthB, long lengthC)
    {
        var self = this;
        string Describe() =>
            $"{op}: M={self.M} N={self.N} K={self.K} transA={self.TransA} transB={self.TransB} " +
            $"lda={self.Lda} ldb={self.Ldb} ldc={self.Ldc} batch={self.BatchCount} " +
            $"strides=({self.StrideA},{self.StrideB},{self.StrideC}); lengths A={lengthA} B={lengthB} C={lengthC}";
        if (M < 0 || N < 0 || K < 0 || BatchCount < 0)
            throw new ArgumentException($"Negative size in {Describe()}");
        if (Lda < (TransA ? M : K) || Ldb < (TransB ? K : N) || Ldc < N)
            throw new ArgumentException($"Leading dimension smaller than a row in {Describe()}");
        if (BatchCount > 1 && (StrideA < 0 || StrideB < 0 || StrideC < (long)(M - 1) * Ldc + N))
            throw new ArgumentException($"Batch strides overlap in {Describe()}");
        if (lengthA < RequiredLength(TransA, M, K, Lda, StrideA))
            throw new ArgumentException($"A too short (needs {RequiredLength(TransA, M, K, Lda, StrideA)}) in {Describe()}");
        if (lengthB < RequiredLength(TransB, K, N, Ldb, StrideB))
            throw new ArgumentException($"B too short (needs {RequiredLength(TransB, K, N, Ldb, StrideB)}) in {Describe()}");
        if (lengthC < RequiredLength(false, M, N, Ldc, StrideC))
            throw new ArgumentException($"C too short (needs {RequiredLength(false, M, N, Ldc, StrideC)}) in {Describe()}");
    }
}
