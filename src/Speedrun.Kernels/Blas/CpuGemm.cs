namespace Speedrun.Kernels.Blas;

/// <summary>The micro-kernels <see cref="CpuGemm"/> can run, narrowest first.</summary>
internal enum CpuGemmKernelKind { Portable, Avx2, Avx512 }

/// <summary>
/// Managed fp32 GEMM on host pointers, row-major (see <see cref="Gemm"/>): packed panels, cache blocking and
/// a register-blocked FMA micro-kernel (AVX-512, else AVX2, else 128-bit vectors). Work is cut into parts
/// (whole batches when there are many, else slices of rows or columns of C) that run on all cores. Every
/// element of C is summed in one fixed order, so results are bit-identical from call to call and for any
/// number of threads.
/// </summary>
internal static unsafe class CpuGemm
{
    /// <summary>Below this many multiply-adds in all, a GEMM runs on the calling thread only (waking the pool
    /// costs about 10 us here, the time of ~1M multiply-adds on one core).</summary>
    const long SerialWork = 3 << 18;

    public static CpuGemmKernelKind BestKernel { get; } =
        Avx512Kernel6x64.IsSupported ? CpuGemmKernelKind.Avx512 :
        Avx2Kernel6x16.IsSupported ? CpuGemmKernelKind.Avx2 : CpuGemmKernelKind.Portable;

    public static string InstructionSet => KernelName(BestKernel);

    public static string KernelName(CpuGemmKernelKind kind) => kind switch
    {
        CpuGemmKernelKind.Avx512 => $"{Avx512Kernel6x64.Name} ({Avx512Kernel12x32.Name} when C is at most 32 wide)",
        CpuGemmKernelKind.Avx2 => Avx2Kernel6x16.Name,
        _ => PortableKernel4x8.Name,
    };

    public static bool IsSupported(CpuGemmKernelKind kind) => kind switch
    {
        CpuGemmKernelKind.Avx512 => Avx512Kernel6x64.IsSupported,
        CpuGemmKernelKind.Avx2 => Avx2Kernel6x16.IsSupported,
        _ => PortableKernel4x8.IsSupported,
    };

    /// <summary>Default cache blocking per kernel (tuned on an AMD EPYC Zen 5: 48 KiB L1d, 1 MiB L2 a core).</summary>
    public static CpuGemmBlocking DefaultBlocking(CpuGemmKernelKind kind) => kind switch
    {
        CpuGemmKernelKind.Avx512 => new(KC: 256, MC: 120, NC: 512, NB: 4096),
        CpuGemmKernelKind.Avx2 => new(KC: 256, MC: 120, NC: 512, NB: 4096),
        _ => new(KC: 256, MC: 64, NC: 256, NB: 4096),
    };

    public static void Run(in Gemm g, float* a, float* b, float* c) =>
        Run(g, a, b, c, BestKernel, Environment.ProcessorCount);

    /// <summary>The same product with a chosen kernel, thread count and (for tuning) blocking.</summary>
    internal static void Run(in Gemm g, float* a, float* b, float* c, CpuGemmKernelKind kind, int threads,
        CpuGemmBlocking? blocking = null)
    {
        if (!IsSupported(kind))
            throw new PlatformNotSupportedException($"The {KernelName(kind)} GEMM kernel needs instructions this CPU lacks.");
        var blk = blocking ?? DefaultBlocking(kind);
        switch (kind)
        {
            // A C at most 32 wide (attention with 32-wide heads) would leave half of every 64-wide tile empty.
            case CpuGemmKernelKind.Avx512 when g.N <= Avx512Kernel12x32.NR:
                Parts<Avx512Kernel12x32>.Run(g, a, b, c, Math.Max(1, threads), blk); break;
            case CpuGemmKernelKind.Avx512: Parts<Avx512Kernel6x64>.Run(g, a, b, c, Math.Max(1, threads), blk); break;
            case CpuGemmKernelKind.Avx2: Parts<Avx2Kernel6x16>.Run(g, a, b, c, Math.Max(1, threads), blk); break;
            default: Parts<PortableKernel4x8>.Run(g, a, b, c, Math.Max(1, threads), blk); break;
        }
    }

    /// <summary>C = beta * C (zero when beta is 0, without reading C): the whole GEMM when K or alpha is 0.</summary>
    static void ScaleOnly(in Gemm g, float* c)
    {
        for (int batch = 0; batch < g.BatchCount; batch++)
            for (int i = 0; i < g.M; i++)
            {
                var row = new Span<float>(c + batch * g.StrideC + (long)i * g.Ldc, g.N);
                if (g.Beta == 0f) row.Clear();
                else if (g.Beta != 1f)
                    for (int j = 0; j < row.Length; j++) row[j] *= g.Beta;
            }
    }

    /// <summary>Cuts the GEMM into parts and runs them, in parallel when there is enough work.</summary>
    static class Parts<TKernel> where TKernel : struct, ICpuGemmKernel
    {
        public static void Run(in Gemm g, float* a, float* b, float* c, int threads, CpuGemmBlocking blocking)
        {
            if (g.M == 0 || g.N == 0 || g.BatchCount == 0) return;
            // As in BLAS, alpha = 0 means A and B are not read.
            if (g.K == 0 || g.Alpha == 0f) { ScaleOnly(g, c); return; }

            var blk = blocking.For(TKernel.MR, TKernel.NR);
            int kStep = blk.DepthStep(g.K);
            var job = new Job(g, a, b, c, blk, kStep, PartsPerBatch(g, threads, out bool splitRows), splitRows);
            int parts = g.BatchCount * job.PartsPerBatch;
            var (aFloats, bFloats) = job.MaxBufferFloats();

            if (parts == 1 || threads == 1 || (long)g.M * g.N * g.K * g.BatchCount < SerialWork)
            {
                var buffers = CpuGemmBuffers.Rent(aFloats, bFloats);
                try
                {
                    for (int p = 0; p < parts; p++) job.RunPart(p, buffers);
                }
                finally { CpuGemmBuffers.Return(buffers); }
                return;
            }

            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = threads },
                () => CpuGemmBuffers.Rent(aFloats, bFloats),
                (p, _, buffers) => { job.RunPart(p, buffers); return buffers; },
                CpuGemmBuffers.Return);
        }

        /// <summary>
        /// How many parts each batch is cut into: one when there are enough batches to keep every thread busy,
        /// else enough that the parts spread evenly over the threads. Slices go along the longer side of C, so
        /// the panel that every slice packs again is the smaller one.
        /// </summary>
        static int PartsPerBatch(in Gemm g, int threads, out bool splitRows)
        {
            int rowTiles = (g.M + TKernel.MR - 1) / TKernel.MR, colTiles = (g.N + TKernel.NR - 1) / TKernel.NR;
            splitRows = g.M >= g.N;
            if (threads == 1 || g.BatchCount >= 4 * threads) return 1;
            int parts = threads / Gcd(g.BatchCount, threads);
            if (splitRows && rowTiles < parts || !splitRows && colTiles < parts) splitRows = !splitRows;
            return Math.Max(1, Math.Min(parts, splitRows ? rowTiles : colTiles));
        }

        static int Gcd(int x, int y) => y == 0 ? x : Gcd(y, x % y);

        sealed class Job(in Gemm g, float* a, float* b, float* c, CpuGemmBlocking blk, int kStep, int partsPerBatch,
            bool splitRows)
        {
            readonly Gemm _g = g;
            readonly nint _a = (nint)a, _b = (nint)b, _c = (nint)c;
            public int PartsPerBatch { get; } = partsPerBatch;

            public (long A, long B) MaxBufferFloats()
            {
                int m = splitRows ? SliceLength(_g.M, TKernel.MR, 0) : _g.M;
                int n = splitRows ? _g.N : SliceLength(_g.N, TKernel.NR, 0);
                return CpuGemmBlocked<TKernel>.BufferFloats(blk, m, n, kStep);
            }

            /// <summary>Part p: batch p / PartsPerBatch, slice p % PartsPerBatch of its rows or columns.</summary>
            public void RunPart(int p, CpuGemmBuffers buffers)
            {
                int batch = p / PartsPerBatch, slice = p % PartsPerBatch;
                float* a = (float*)_a + batch * _g.StrideA, b = (float*)_b + batch * _g.StrideB,
                    c = (float*)_c + batch * _g.StrideC;
                int i0 = 0, m = _g.M, j0 = 0, n = _g.N;
                if (splitRows) (i0, m) = (SliceStart(_g.M, TKernel.MR, slice), SliceLength(_g.M, TKernel.MR, slice));
                else (j0, n) = (SliceStart(_g.N, TKernel.NR, slice), SliceLength(_g.N, TKernel.NR, slice));
                if (m > 0 && n > 0)
                    CpuGemmBlocked<TKernel>.Run(_g, a, b, c, i0, m, j0, n, blk, kStep, buffers);
            }

            // Slices hold whole tiles, as evenly as the tile count allows; slice 0 is never smaller than another.
            int SliceStart(int extent, int tile, int slice)
            {
                int tiles = (extent + tile - 1) / tile;
                return Math.Min(extent, (int)(((long)tiles * slice + PartsPerBatch - 1) / PartsPerBatch) * tile);
            }

            int SliceLength(int extent, int tile, int slice) =>
                SliceStart(extent, tile, slice + 1) - SliceStart(extent, tile, slice);
        }
    }
}
