using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Speedrun.Kernels.Blas;

/// <summary>How a micro-kernel merges its tile into C.</summary>
internal enum CpuGemmUpdate
{
    /// <summary>C = alpha * acc; C is never read (it may hold NaN).</summary>
    Overwrite,
    /// <summary>C = alpha * acc + C (every K block after the first).</summary>
    Accumulate,
    /// <summary>C = alpha * acc + beta * C.</summary>
    Scale,
}

/// <summary>
/// A register-blocked micro-kernel: multiplies a packed MR x kc panel of A (for each k, the MR values of
/// its rows) by a packed kc x NR panel of B (for each k, NR consecutive values) into an MR x NR tile
/// held in registers, then merges the top-left mr x nr corner into C. Each element's sum runs over k in
/// order with one fused multiply-add per step, so its value never depends on where its tile sits.
/// </summary>
internal unsafe interface ICpuGemmKernel
{
    static abstract int MR { get; }
    static abstract int NR { get; }
    static abstract bool IsSupported { get; }
    static abstract string Name { get; }

    static abstract void Run(int kc, float* a, float* b, float* c, long ldc, int mr, int nr,
        float alpha, float beta, CpuGemmUpdate update);
}

/// <summary>The scalar merge for tiles cut by the edge of C, with the same formulas as the vector merge.</summary>
internal static unsafe class CpuGemmTile
{
    public static void StoreEdge(float* tile, int ldt, float* c, long ldc, int mr, int nr,
        float alpha, float beta, CpuGemmUpdate update)
    {
        for (int r = 0; r < mr; r++, tile += ldt, c += ldc)
            for (int j = 0; j < nr; j++)
                c[j] = update switch
                {
                    CpuGemmUpdate.Overwrite => tile[j] * alpha,
                    CpuGemmUpdate.Accumulate => MathF.FusedMultiplyAdd(tile[j], alpha, c[j]),
                    _ => MathF.FusedMultiplyAdd(tile[j], alpha, beta * c[j]),
                };
    }
}

/// <summary>
/// AVX-512: a 6 x 64 tile of C in 24 zmm accumulators (4 vectors a row), one broadcast of A per row and depth.
/// </summary>
[SkipLocalsInit]
internal readonly unsafe struct Avx512Kernel6x64 : ICpuGemmKernel
{
    public static int MR => 6;
    public static int NR => 64;
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;
    public static string Name => "AVX-512 FMA, 6x64 tile";

    public static void Run(int kc, float* a, float* b, float* c, long ldc, int mr, int nr,
        float alpha, float beta, CpuGemmUpdate update)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (int k = 0; k < kc; k++, a += 6, b += 64)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32); var b3 = Vector512.Load(b + 48);
            var x = Vector512.Create(a[0]);
            c00 = MulAdd(x, b0, c00); c01 = MulAdd(x, b1, c01); c02 = MulAdd(x, b2, c02); c03 = MulAdd(x, b3, c03);
            x = Vector512.Create(a[1]);
            c10 = MulAdd(x, b0, c10); c11 = MulAdd(x, b1, c11); c12 = MulAdd(x, b2, c12); c13 = MulAdd(x, b3, c13);
            x = Vector512.Create(a[2]);
            c20 = MulAdd(x, b0, c20); c21 = MulAdd(x, b1, c21); c22 = MulAdd(x, b2, c22); c23 = MulAdd(x, b3, c23);
            x = Vector512.Create(a[3]);
            c30 = MulAdd(x, b0, c30); c31 = MulAdd(x, b1, c31); c32 = MulAdd(x, b2, c32); c33 = MulAdd(x, b3, c33);
            x = Vector512.Create(a[4]);
            c40 = MulAdd(x, b0, c40); c41 = MulAdd(x, b1, c41); c42 = MulAdd(x, b2, c42); c43 = MulAdd(x, b3, c43);
            x = Vector512.Create(a[5]);
            c50 = MulAdd(x, b0, c50); c51 = MulAdd(x, b1, c51); c52 = MulAdd(x, b2, c52); c53 = MulAdd(x, b3, c53);
        }
        if (mr == 6 && nr == 64)
        {
            var va = Vector512.Create(alpha);
            var vb = Vector512.Create(beta);
            UpdateRow(c, c00, c01, c02, c03, va, vb, update); c += ldc;
            UpdateRow(c, c10, c11, c12, c13, va, vb, update); c += ldc;
            UpdateRow(c, c20, c21, c22, c23, va, vb, update); c += ldc;
            UpdateRow(c, c30, c31, c32, c33, va, vb, update); c += ldc;
            UpdateRow(c, c40, c41, c42, c43, va, vb, update); c += ldc;
            UpdateRow(c, c50, c51, c52, c53, va, vb, update);
        }
        else
        {
            float* t = stackalloc float[384];
            c00.Store(t + 0); c01.Store(t + 16); c02.Store(t + 32); c03.Store(t + 48);
            c10.Store(t + 64); c11.Store(t + 80); c12.Store(t + 96); c13.Store(t + 112);
            c20.Store(t + 128); c21.Store(t + 144); c22.Store(t + 160); c23.Store(t + 176);
            c30.Store(t + 192); c31.Store(t + 208); c32.Store(t + 224); c33.Store(t + 240);
            c40.Store(t + 256); c41.Store(t + 272); c42.Store(t + 288); c43.Store(t + 304);
            c50.Store(t + 320); c51.Store(t + 336); c52.Store(t + 352); c53.Store(t + 368);
            CpuGemmTile.StoreEdge(t, 64, c, ldc, mr, nr, alpha, beta, update);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> MulAdd(Vector512<float> x, Vector512<float> y, Vector512<float> z) =>
        Avx512F.FusedMultiplyAdd(x, y, z);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void UpdateRow(float* c, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        Vector512<float> alpha, Vector512<float> beta, CpuGemmUpdate update)
    {
        Update(c, x0, alpha, beta, update);
        Update(c + 16, x1, alpha, beta, update);
        Update(c + 32, x2, alpha, beta, update);
        Update(c + 48, x3, alpha, beta, update);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Update(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta,
        CpuGemmUpdate update)
    {
        if (update == CpuGemmUpdate.Overwrite) (acc * alpha).Store(c);
        else if (update == CpuGemmUpdate.Accumulate) MulAdd(acc, alpha, Vector512.Load(c)).Store(c);
        else MulAdd(acc, alpha, beta * Vector512.Load(c)).Store(c);
    }
}

/// <summary>
/// AVX-512: a 12 x 32 tile of C in 24 zmm accumulators (2 vectors a row), for C at most 32 columns wide (attention
/// heads of 32), where a 64-wide tile would be half padding.
/// </summary>
[SkipLocalsInit]
internal readonly unsafe struct Avx512Kernel12x32 : ICpuGemmKernel
{
    public static int MR => 12;
    public static int NR => 32;
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;
    public static string Name => "AVX-512 FMA, 12x32 tile";

    public static void Run(int kc, float* a, float* b, float* c, long ldc, int mr, int nr,
        float alpha, float beta, CpuGemmUpdate update)
    {
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default;
        Vector512<float> c100 = default, c101 = default;
        Vector512<float> c110 = default, c111 = default;
        for (int k = 0; k < kc; k++, a += 12, b += 32)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = MulAdd(x, b0, c00); c01 = MulAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = MulAdd(x, b0, c10); c11 = MulAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = MulAdd(x, b0, c20); c21 = MulAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = MulAdd(x, b0, c30); c31 = MulAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = MulAdd(x, b0, c40); c41 = MulAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = MulAdd(x, b0, c50); c51 = MulAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = MulAdd(x, b0, c60); c61 = MulAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = MulAdd(x, b0, c70); c71 = MulAdd(x, b1, c71);
            x = Vector512.Create(a[8]);
            c80 = MulAdd(x, b0, c80); c81 = MulAdd(x, b1, c81);
            x = Vector512.Create(a[9]);
            c90 = MulAdd(x, b0, c90); c91 = MulAdd(x, b1, c91);
            x = Vector512.Create(a[10]);
            c100 = MulAdd(x, b0, c100); c101 = MulAdd(x, b1, c101);
            x = Vector512.Create(a[11]);
            c110 = MulAdd(x, b0, c110); c111 = MulAdd(x, b1, c111);
        }
        if (mr == 12 && nr == 32)
        {
            var va = Vector512.Create(alpha);
            var vb = Vector512.Create(beta);
            UpdateRow(c, c00, c01, va, vb, update); c += ldc;
            UpdateRow(c, c10, c11, va, vb, update); c += ldc;
            UpdateRow(c, c20, c21, va, vb, update); c += ldc;
            UpdateRow(c, c30, c31, va, vb, update); c += ldc;
            UpdateRow(c, c40, c41, va, vb, update); c += ldc;
            UpdateRow(c, c50, c51, va, vb, update); c += ldc;
            UpdateRow(c, c60, c61, va, vb, update); c += ldc;
            UpdateRow(c, c70, c71, va, vb, update); c += ldc;
            UpdateRow(c, c80, c81, va, vb, update); c += ldc;
            UpdateRow(c, c90, c91, va, vb, update); c += ldc;
            UpdateRow(c, c100, c101, va, vb, update); c += ldc;
            UpdateRow(c, c110, c111, va, vb, update);
        }
        else
        {
            float* t = stackalloc float[384];
            c00.Store(t + 0); c01.Store(t + 16);
            c10.Store(t + 32); c11.Store(t + 48);
            c20.Store(t + 64); c21.Store(t + 80);
            c30.Store(t + 96); c31.Store(t + 112);
            c40.Store(t + 128); c41.Store(t + 144);
            c50.Store(t + 160); c51.Store(t + 176);
            c60.Store(t + 192); c61.Store(t + 208);
            c70.Store(t + 224); c71.Store(t + 240);
            c80.Store(t + 256); c81.Store(t + 272);
            c90.Store(t + 288); c91.Store(t + 304);
            c100.Store(t + 320); c101.Store(t + 336);
            c110.Store(t + 352); c111.Store(t + 368);
            CpuGemmTile.StoreEdge(t, 32, c, ldc, mr, nr, alpha, beta, update);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> MulAdd(Vector512<float> x, Vector512<float> y, Vector512<float> z) => Avx512F.FusedMultiplyAdd(x, y, z);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void UpdateRow(float* c, Vector512<float> x0, Vector512<float> x1,
        Vector512<float> alpha, Vector512<float> beta, CpuGemmUpdate update)
    {
        Update(c, x0, alpha, beta, update);
        Update(c + 16, x1, alpha, beta, update);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Update(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta, CpuGemmUpdate update)
    {
        if (update == CpuGemmUpdate.Overwrite) (acc * alpha).Store(c);
        else if (update == CpuGemmUpdate.Accumulate) MulAdd(acc, alpha, Vector512.Load(c)).Store(c);
        else MulAdd(acc, alpha, beta * Vector512.Load(c)).Store(c);
    }
}

/// <summary>AVX2 + FMA: a 6 x 16 tile of C in 12 ymm accumulators (2 vectors a row).</summary>
[SkipLocalsInit]
internal readonly unsafe struct Avx2Kernel6x16 : ICpuGemmKernel
{
    public static int MR => 6;
    public static int NR => 16;
    public static bool IsSupported => Vector256.IsHardwareAccelerated && Fma.IsSupported;
    public static string Name => "AVX2 FMA, 6x16 tile";

    public static void Run(int kc, float* a, float* b, float* c, long ldc, int mr, int nr,
        float alpha, float beta, CpuGemmUpdate update)
    {
        Vector256<float> c00 = default, c01 = default;
        Vector256<float> c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default;
        Vector256<float> c50 = default, c51 = default;
        for (int k = 0; k < kc; k++, a += 6, b += 16)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = MulAdd(x, b0, c00); c01 = MulAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = MulAdd(x, b0, c10); c11 = MulAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = MulAdd(x, b0, c20); c21 = MulAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = MulAdd(x, b0, c30); c31 = MulAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = MulAdd(x, b0, c40); c41 = MulAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = MulAdd(x, b0, c50); c51 = MulAdd(x, b1, c51);
        }
        if (mr == 6 && nr == 16)
        {
            var va = Vector256.Create(alpha);
            var vb = Vector256.Create(beta);
            UpdateRow(c, c00, c01, va, vb, update); c += ldc;
            UpdateRow(c, c10, c11, va, vb, update); c += ldc;
            UpdateRow(c, c20, c21, va, vb, update); c += ldc;
            UpdateRow(c, c30, c31, va, vb, update); c += ldc;
            UpdateRow(c, c40, c41, va, vb, update); c += ldc;
            UpdateRow(c, c50, c51, va, vb, update);
        }
        else
        {
            float* t = stackalloc float[96];
            c00.Store(t + 0); c01.Store(t + 8);
            c10.Store(t + 16); c11.Store(t + 24);
            c20.Store(t + 32); c21.Store(t + 40);
            c30.Store(t + 48); c31.Store(t + 56);
            c40.Store(t + 64); c41.Store(t + 72);
            c50.Store(t + 80); c51.Store(t + 88);
            CpuGemmTile.StoreEdge(t, 16, c, ldc, mr, nr, alpha, beta, update);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> MulAdd(Vector256<float> x, Vector256<float> y, Vector256<float> z) =>
        Fma.MultiplyAdd(x, y, z);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void UpdateRow(float* c, Vector256<float> x0, Vector256<float> x1,
        Vector256<float> alpha, Vector256<float> beta, CpuGemmUpdate update)
    {
        Update(c, x0, alpha, beta, update);
        Update(c + 8, x1, alpha, beta, update);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Update(float* c, Vector256<float> acc, Vector256<float> alpha, Vector256<float> beta,
        CpuGemmUpdate update)
    {
        if (update == CpuGemmUpdate.Overwrite) (acc * alpha).Store(c);
        else if (update == CpuGemmUpdate.Accumulate) MulAdd(acc, alpha, Vector256.Load(c)).Store(c);
        else MulAdd(acc, alpha, beta * Vector256.Load(c)).Store(c);
    }
}

/// <summary>
/// Any CPU: a 4 x 8 tile in 128-bit vectors (SSE, NEON, or a software fallback), fused where the CPU has FMA.
/// </summary>
[SkipLocalsInit]
internal readonly unsafe struct PortableKernel4x8 : ICpuGemmKernel
{
    public static int MR => 4;
    public static int NR => 8;
    public static bool IsSupported => true;
    public static string Name => "Vector128, 4x8 tile";

    public static void Run(int kc, float* a, float* b, float* c, long ldc, int mr, int nr,
        float alpha, float beta, CpuGemmUpdate update)
    {
        Vector128<float> c00 = default, c01 = default;
        Vector128<float> c10 = default, c11 = default;
        Vector128<float> c20 = default, c21 = default;
        Vector128<float> c30 = default, c31 = default;
        for (int k = 0; k < kc; k++, a += 4, b += 8)
        {
            var b0 = Vector128.Load(b); var b1 = Vector128.Load(b + 4);
            var x = Vector128.Create(a[0]);
            c00 = MulAdd(x, b0, c00); c01 = MulAdd(x, b1, c01);
            x = Vector128.Create(a[1]);
            c10 = MulAdd(x, b0, c10); c11 = MulAdd(x, b1, c11);
            x = Vector128.Create(a[2]);
            c20 = MulAdd(x, b0, c20); c21 = MulAdd(x, b1, c21);
            x = Vector128.Create(a[3]);
            c30 = MulAdd(x, b0, c30); c31 = MulAdd(x, b1, c31);
        }
        if (mr == 4 && nr == 8)
        {
            var va = Vector128.Create(alpha);
            var vb = Vector128.Create(beta);
            UpdateRow(c, c00, c01, va, vb, update); c += ldc;
            UpdateRow(c, c10, c11, va, vb, update); c += ldc;
            UpdateRow(c, c20, c21, va, vb, update); c += ldc;
            UpdateRow(c, c30, c31, va, vb, update);
        }
        else
        {
            float* t = stackalloc float[32];
            c00.Store(t + 0); c01.Store(t + 4);
            c10.Store(t + 8); c11.Store(t + 12);
            c20.Store(t + 16); c21.Store(t + 20);
            c30.Store(t + 24); c31.Store(t + 28);
            CpuGemmTile.StoreEdge(t, 8, c, ldc, mr, nr, alpha, beta, update);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> MulAdd(Vector128<float> x, Vector128<float> y, Vector128<float> z) =>
        Vector128.MultiplyAddEstimate(x, y, z);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void UpdateRow(float* c, Vector128<float> x0, Vector128<float> x1,
        Vector128<float> alpha, Vector128<float> beta, CpuGemmUpdate update)
    {
        Update(c, x0, alpha, beta, update);
        Update(c + 4, x1, alpha, beta, update);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Update(float* c, Vector128<float> acc, Vector128<float> alpha, Vector128<float> beta,
        CpuGemmUpdate update)
    {
        if (update == CpuGemmUpdate.Overwrite) (acc * alpha).Store(c);
        else if (update == CpuGemmUpdate.Accumulate) MulAdd(acc, alpha, Vector128.Load(c)).Store(c);
        else MulAdd(acc, alpha, beta * Vector128.Load(c)).Store(c);
    }
}
