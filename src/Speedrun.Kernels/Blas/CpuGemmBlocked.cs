namespace Speedrun.Kernels.Blas;

/// <summary>
/// Cache blocking for one part of one GEMM: op(B) is packed NB columns by KC depths at a time, op(A) MC rows
/// by the same depths; the micro-kernel then sweeps each packed A panel (MR x KC, kept in L1) across NC
/// columns of packed B (KC x NC, kept in L2). K blocks run in order, so each element of C sums its K
/// blocks in the same order whatever part of C this call covers.
/// </summary>
/// <param name="KC">Depths packed at once (the micro-kernel's loop length).</param>
/// <param name="MC">Rows of op(A) packed at once (a multiple of MR).</param>
/// <param name="NC">Columns of packed B swept per A panel (a multiple of NR).</param>
/// <param name="NB">Columns of op(B) packed at once (a multiple of NC).</param>
internal readonly record struct CpuGemmBlocking(int KC, int MC, int NC, int NB)
{
    /// <summary>The same sizes rounded to the kernel's tile and to each other.</summary>
    public CpuGemmBlocking For(int mr, int nr)
    {
        int mc = Math.Max(mr, MC / mr * mr), nc = Math.Max(nr, NC / nr * nr);
        return new(Math.Max(1, KC), mc, nc, Math.Max(nc, NB / nc * nc));
    }

    /// <summary>A K block length that cuts K into equal blocks of at most KC.</summary>
    public int DepthStep(int k)
    {
        if (k <= KC) return k;
        int blocks = (k + KC - 1) / KC;
        return (k + blocks - 1) / blocks;
    }
}

internal static unsafe class CpuGemmBlocked<TKernel> where TKernel : struct, ICpuGemmKernel
{
    /// <summary>Packing space one part needs: (A floats, B floats).</summary>
    public static (long A, long B) BufferFloats(CpuGemmBlocking blk, int m, int n, int kStep)
    {
        long rows = Math.Min(blk.MC, RoundUp(m, TKernel.MR));
        long cols = Math.Min(blk.NB, RoundUp(n, TKernel.NR));
        return (rows * kStep, cols * kStep);
    }

    /// <summary>Computes rows [i0, i0 + m) and columns [j0, j0 + n) of one batch's C.</summary>
    public static void Run(in Gemm g, float* a, float* b, float* c, int i0, int m, int j0, int n,
        CpuGemmBlocking blk, int kStep, CpuGemmBuffers buffers)
    {
        int mrFull = TKernel.MR, nrFull = TKernel.NR;
        float* ap = buffers.A, bp = buffers.B;
        long ldc = g.Ldc;
        float alpha = g.Alpha, beta = g.Beta;
        var first = beta == 0f ? CpuGemmUpdate.Overwrite : beta == 1f ? CpuGemmUpdate.Accumulate : CpuGemmUpdate.Scale;
        for (int jo = j0; jo < j0 + n; jo += blk.NB)
        {
            int nb = Math.Min(blk.NB, j0 + n - jo);
            for (int pc = 0; pc < g.K; pc += kStep)
            {
                int kc = Math.Min(kStep, g.K - pc);
                var update = pc == 0 ? first : CpuGemmUpdate.Accumulate;
                CpuGemmPacking.PackB(b, g.Ldb, g.TransB, pc, kc, jo, nb, nrFull, bp);
                for (int ic = i0; ic < i0 + m; ic += blk.MC)
                {
                    int mc = Math.Min(blk.MC, i0 + m - ic);
                    CpuGemmPacking.PackA(a, g.Lda, g.TransA, ic, mc, pc, kc, mrFull, ap);
                    for (int jc = 0; jc < nb; jc += blk.NC)
                    {
                        int jEnd = Math.Min(jc + blk.NC, nb);
                        for (int ir = 0; ir < mc; ir += mrFull)
                        {
                            float* aPanel = ap + (long)ir * kc;
                            float* cRow = c + (long)(ic + ir) * ldc + jo;
                            int mr = Math.Min(mrFull, mc - ir);
                            for (int jr = jc; jr < jEnd; jr += nrFull)
                                TKernel.Run(kc, aPanel, bp + (long)jr * kc, cRow + jr, ldc, mr, Math.Min(nrFull, nb - jr),
                                    alpha, beta, update);
                        }
                    }
                }
            }
        }
    }

    static long RoundUp(long x, int step) => (x + step - 1) / step * step;
}
