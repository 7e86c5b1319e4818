using ILGPU.Runtime;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Device;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// GEMMs on fp32 tensors at a given precision. A node records the precision <see cref="Autocast"/> gave its
/// forward pass and uses the same one in backward, as autocast does in PyTorch (backward runs outside the
/// autocast scope but in the dtypes the forward chose).
/// </summary>
internal static class Matmul
{
    public static void Run(Device device, in Gemm g, Tensor a, Tensor b, Tensor c, MatmulPrecision precision)
    {
        if (precision == MatmulPrecision.F32)
        {
            using (Profiler.Op("matmul.gemm_fp32"))
                device.Blas.Gemm(g, a.F32, b.F32, c.F32);
            return;
        }
        using var a16 = ToBf16(device, a);
        using var b16 = ToBf16(device, b);
        Run(device, g, a16, b16, c);
    }

    /// <summary>bf16 operands already rounded (a cast shared by two GEMMs), fp32 output.</summary>
    public static void Run(Device device, in Gemm g, PooledBuffer<BFloat16> a, PooledBuffer<BFloat16> b, Tensor c)
    {
        using (Profiler.Op("matmul.gemm_bf16"))
            device.Blas.Gemm(g, a.View, b.View, c.F32);
    }

    /// <summary>A bf16 copy of a matrix (rows, cols) with zero rows appended up to <paramref name="paddedRows"/>.</summary>
    public static PooledBuffer<BFloat16> ToBf16Padded(Device device, Tensor matrix, int paddedRows)
    {
        int rows = matrix.Dim(0), cols = matrix.Dim(1);
        var copy = device.Pool.Rent<BFloat16>((long)paddedRows * cols);
        using (Profiler.Op("matmul.cast_bf16"))
        {
            copy.View.SubView((long)rows * cols, (long)(paddedRows - rows) * cols).MemSetToZero(device.Stream);
            device.Elementwise().ToBFloat16(matrix.F32, copy.View.SubView(0, (long)rows * cols));
        }
        return copy;
    }

    /// <summary>A bf16 copy of a tensor (pooled; dispose to return it).</summary>
    public static PooledBuffer<BFloat16> ToBf16(Device device, Tensor t)
    {
        var copy = device.Pool.Rent<BFloat16>(t.Length);
        using (Profiler.Op("matmul.cast_bf16"))
            device.Elementwise().ToBFloat16(t.F32, copy.View);
        return copy;
    }
}
