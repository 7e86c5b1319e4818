using ILGPU.Runtime;
using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Runtime;
using Speedrun.Kernels.Numerics;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// torch.matmul for a (..., M, K) and b either (K, N) or (..., K, N) with the same leading dims: y (..., M, N).
/// A shared b is one GEMM over all rows of a; a batched b is one strided-batched GEMM. Backward:
/// da = dy·bᵀ, db = aᵀ·dy (summed over the batch when b is shared). Precision follows <see cref="Autocast"/>
/// at forward time and is kept for the backward.
/// </summary>
internal sealed class Matmul() : Function("matmul")
{
    readonly MatmulPrecision _precision = Autocast.Current;
    int _batch, _m, _k, _n;
    bool _sharedB;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var (a, b) = (inputs[0], inputs[1]);
        if (a.Rank < 2 || b.Rank < 2)
            throw new ArgumentException($"Matmul: both operands need at least 2 dims, got {a.Describe()} and {b.Describe()}.");
        _m = a.Dim(-2);
        _k = a.Dim(-1);
        _n = b.Dim(-1);
        if (b.Dim(-2) != _k)
            throw new ArgumentException($"Matmul: {a.Describe()} has {_k} columns but {b.Describe()} has {b.Dim(-2)} rows.");
        _sharedB = b.Rank == 2;
        _batch = (int)(a.Length / ((long)_m * _k));
        if (!_sharedB && (b.Rank != a.Rank || !a.Shape[..^2].SequenceEqual(b.Shape[..^2])))
            throw new ArgumentException($"Matmul: batch dims of {a.Describe()} and {b.Describe()} differ (b must be 2-D or share a's leading dims).");
        var shape = (int[])a.Shape.Clone();
        shape[^1] = _n;
        var y = Tensor.Empty(a.Device, shape);
        var g = _sharedB
            ? Gemm.Dense(false, false, _batch * _m, _n, _k)
            : Gemm.DenseBatched(false, false, _m, _n, _k, _batch);
        GemmRunner.Run(a.Device, g, a, b, y, _precision);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var (a, b) = (Inputs[0], Inputs[1]);
        var device = dy.Device;
        Tensor? da = null, db = null;
        if (NeedsInputGrad(0))
        {
            da = Tensor.Empty(device, a.Shape);
            var g = _sharedB
                ? Gemm.Dense(false, true, _batch * _m, _k, _n)
                : Gemm.DenseBatched(false, true, _m, _k, _n, _batch);
            GemmRunner.Run(device, g, dy, b, da, _precision);
        }
        if (NeedsInputGrad(1))
        {
            db = Tensor.Empty(device, b.Shape);
            var g = _sharedB
                ? Gemm.Dense(true, false, _k, _n, _batch * _m)
                : Gemm.DenseBatched(true, false, _k, _n, _m, _batch);
            GemmRunner.Run(device, g, a, dy, db, _precision);
        }
        return [da, db];
    }
}

/// <summary>
/// GEMMs on fp32 tensors at a given precision. An op records the precision <see cref="Autocast"/> gave its
/// forward pass and uses the same one in backward, as autocast does in PyTorch (backward runs outside the
/// autocast scope but in the dtypes the forward chose).
/// </summary>
internal static class GemmRunner
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
