using System.Numerics;

namespace Speedrun.Kernels.Blas;

/// <summary>
/// Managed fp32 GEMM on host pointers, row-major (see <see cref="Gemm"/>). Parallel over rows of C;
/// the inner loop is a SIMD axpy over a row of op(B).
/// </summary>
internal static unsafe class CpuGemm
{
    public static string InstructionSet => $"Vector<float> x{Vector<float>.Count}";

    public static void Run(in Gemm g, float* a, float* b, float* c)
    {
        var gg = g;
        for (int batch = 0; batch < g.BatchCount; batch++)
        {
            float* pa = a + batch * g.StrideA, pb = b + batch * g.StrideB, pc = c + batch * g.StrideC;
            Parallel.For(0, g.M, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                i => Row(gg, pa, pb, pc, i));
        }
    }

    static void Row(in Gemm g, float* a, float* b, float* c, int i)
    {
        int n = g.N;
        var acc = new float[n];
        fixed (float* pacc = acc)
        {
            for (int p = 0; p < g.K; p++)
            {
                float aip = g.TransA ? a[(long)p * g.Lda + i] : a[(long)i * g.Lda + p];
                if (aip == 0f) continue;
                if (!g.TransB)
                {
                    float* brow = b + (long)p * g.Ldb;
                    int j = 0;
                    var va = new Vector<float>(aip);
                    for (; j <= n - Vector<float>.Count; j += Vector<float>.Count)
                    {
                        var v = Vector.Load(pacc + j) + va * Vector.Load(brow + j);
                        v.Store(pacc + j);
                    }
                    for (; j < n; j++) pacc[j] += aip * brow[j];
                }
                else
                {
                    for (int j = 0; j < n; j++) pacc[j] += aip * b[(long)j * g.Ldb + p];
                }
            }
            float* crow = c + (long)i * g.Ldc;
            for (int j = 0; j < n; j++)
                crow[j] = g.Beta == 0f ? g.Alpha * pacc[j] : g.Alpha * pacc[j] + g.Beta * crow[j];
        }
    }
}
