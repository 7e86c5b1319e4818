using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>One GEMM on fp32 tensors at the precision <see cref="Autocast"/> asks for.</summary>
internal static class Matmul
{
    public static void Run(Device device, in Gemm g, Tensor a, Tensor b, Tensor c)
    {
        if (Autocast.Current == MatmulPrecision.F32)
        {
            device.Blas.Gemm(g, a.F32, b.F32, c.F32);
            return;
        }
        var ops = device.Elementwise();
        using var a16 = device.Pool.Rent<BFloat16>(a.Length);
        using var b16 = device.Pool.Rent<BFloat16>(b.Length);
        using (Profiler.Op("matmul.cast_bf16"))
        {
            ops.ToBFloat16(a.F32, a16.View);
            ops.ToBFloat16(b.F32, b16.View);
        }
        using (Profiler.Op("matmul.gemm_bf16"))
            device.Blas.Gemm(g, a16.View, b16.View, c.F32);
    }
}
