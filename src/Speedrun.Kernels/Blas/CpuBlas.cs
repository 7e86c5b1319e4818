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
        fixed (float* pa = wa, pb = wb)
            CpuGemm.Run(g, pa, pb, (float*)c.LoadEffectiveAddressAsPtr());
    }

    public void Gemm(in Gemm g, ArrayView<BFloat16> a, ArrayView<BFloat16> b, ArrayView<BFloat16> c)
    {
        g.Validate("CPU GEMM bf16->bf16", a.Length, b.Length, c.Length);
        var wa = Widen(a);
        var wb = Widen(b);
        var wc = Widen(c); // beta may read C
        fixed (float* pa = wa, pb = wb, pc = wc)
            CpuGemm.Run(g, pa, pb, pc);
        var dst = new Span<BFloat16>((void*)c.LoadEffectiveAddressAsPtr(), (int)c.Length);
        for (int i = 0; i < wc.Length; i++) dst[i] = BFloat16.FromFloat(wc[i]);
    }

    static float[] Widen(ArrayView<BFloat16> v)
    {
        var src = new ReadOnlySpan<BFloat16>((void*)v.LoadEffectiveAddressAsPtr(), checked((int)v.Length));
        var dst = new float[src.Length];
        for (int i = 0; i < src.Length; i++) dst[i] = src[i].ToFloat();
        return dst;
    }

    public void Dispose() { }
}
