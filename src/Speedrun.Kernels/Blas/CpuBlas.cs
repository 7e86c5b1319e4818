using System.Buffers;
using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Numerics;

namespace Speedrun.Kernels.Blas;

/// <summary>
/// GEMM for ILGPU's CPU accelerator, whose buffers live in host memory: fp32 goes straight to the managed
/// SIMD GEMM; bf16 operands are widened to fp32 first (exact), and a bf16 output is rounded to nearest even,
/// which is what a tensor-core GEMM with fp32 accumulation computes up to summation order.
/// CPU accelerator launches are synchronous, so ordering with kernels is preserved.
/// </summary>
internal sealed unsafe class CpuBlas : IBlas
{
    public string Description => $"managed SIMD GEMM ({CpuGemm.InstructionSet}, {Environment.ProcessorCount} threads)";

    public bool AllowTf32 { get; set; }

    public void Gemm(in Gemm g, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        g.Validate("CPU GEMM fp32", a.Length, b.Length, c.Length);
        CpuGemm.Run(g, (float*)a.LoadEffectiveAddressAsPtr(), (float*)b.LoadEffectiveAddressAsPtr(),
            (float*)c.LoadEffectiveAddressAsPtr());
    }

    public void Gemm(in Gemm g, ArrayView<BFloat16> a, ArrayView<BFloat16> b, ArrayView<float> c)
    {
        g.Validate("CPU GEMM bf16->fp32", a.Length, b.Length, c.Length);
        var wa = Widen(a);
        var wb = Widen(b);
        try
        {
            fixed (float* pa = wa, pb = wb)
                CpuGemm.Run(g, pa, pb, (float*)c.LoadEffectiveAddressAsPtr());
        }
        finally { Return(wa, wb); }
    }

    public void Gemm(in Gemm g, ArrayView<BFloat16> a, ArrayView<BFloat16> b, ArrayView<BFloat16> c)
    {
        g.Validate("CPU GEMM bf16->bf16", a.Length, b.Length, c.Length);
        var wa = Widen(a);
        var wb = Widen(b);
        var wc = Widen(c); // beta may read C
        try
        {
            fixed (float* pa = wa, pb = wb, pc = wc)
                CpuGemm.Run(g, pa, pb, pc);
            BFloat16Spans.Round(wc.AsSpan(0, (int)c.Length), Span(c));
        }
        finally { Return(wa, wb, wc); }
    }

    static Span<BFloat16> Span(ArrayView<BFloat16> v) =>
        v.Length == 0 ? default : new Span<BFloat16>((void*)v.LoadEffectiveAddressAsPtr(), checked((int)v.Length));

    /// <summary>An fp32 copy of v in a pooled array (at least v's length; return it): a head-sized operand is
    /// 25 MB, so a fresh array per GEMM cost more than the product at tiny widths.</summary>
    static float[] Widen(ArrayView<BFloat16> v)
    {
        var dst = ArrayPool<float>.Shared.Rent(checked((int)v.Length));
        BFloat16Spans.Widen(Span(v), dst.AsSpan(0, (int)v.Length));
        return dst;
    }

    static void Return(params float[][] arrays)
    {
        foreach (var array in arrays) ArrayPool<float>.Shared.Return(array);
    }

    public void Dispose() { }
}
