using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// The fp8 ops behind <see cref="F.ToFloat8"/>, <see cref="F.FromFloat8"/> and <see cref="F.ScaledMatmul(Tensor, Tensor, Tensor, Tensor, bool)"/>.
/// None records a gradient (an fp8 cast is not differentiable in torch either): a program that trains through
/// fp8 wraps them in its own <see cref="Function"/> and says what the backward pass does.
/// </summary>
internal static class Float8Functions
{
    public static Float8Format FormatOf(string op, Tensor t) => t.DType switch
    {
        DType.F8E4M3 => Float8Format.E4M3,
        DType.F8E5M2 => Float8Format.E5M2,
        _ => throw new ArgumentException($"{op}: expected an fp8 tensor (F8E4M3 or F8E5M2), got {t.Describe()}."),
    };

    public static Tensor ToFloat8(Tensor x, DType dtype, float scale)
    {
        Check.Dtype("ToFloat8", x, DType.F32);
        var format = dtype switch
        {
            DType.F8E4M3 => Float8Format.E4M3,
            DType.F8E5M2 => Float8Format.E5M2,
            _ => throw new ArgumentException($"ToFloat8: dtype must be DType.F8E4M3 or DType.F8E5M2, got {dtype}."),
        };
        var y = Tensor.Empty(x.Device, dtype, x.Shape);
        using (Profiler.Op("to_float8"))
            x.Device.Float8Casts().Quantize(x.F32, scale, y.F8, format);
        return y;
    }

    public static Tensor FromFloat8(Tensor x8, float scale)
    {
        var format = FormatOf("FromFloat8", x8);
        var y = Tensor.Empty(x8.Device, DType.F32, x8.Shape);
        using (Profiler.Op("from_float8"))
            x8.Device.Float8Casts().Dequantize(x8.F8, format, scale, y.F32);
        return y;
    }

    public static Tensor ScaledMatmul(Tensor a, Tensor bT, Tensor scaleA, Tensor scaleB, bool useFastAccum)
    {
        const string op = "ScaledMatmul";
        var aFormat = FormatOf(op, a);
        var bFormat = FormatOf(op, bT);
        Check.Rank(op, a, 2, "a of shape (M, K)");
        Check.Rank(op, bT, 2, "bT of shape (N, K) (b transposed, row-major)");
        Check.That(a.Dim(1) == bT.Dim(1), op, () => $"a {a.Describe()} and bT {bT.Describe()} must share K (their last dim).");
        foreach (var s in new[] { scaleA, scaleB })
        {
            Check.Dtype(op, s, DType.F32);
            Check.That(s.Length == 1, op, () => $"scales are per-tensor: one F32 value each, got {s.Describe()}.");
        }
        Check.That(a.Device == bT.Device && a.Device == scaleA.Device && a.Device == scaleB.Device, op,
            () => "all operands must live on the same device.");
        int m = a.Dim(0), n = bT.Dim(0), k = a.Dim(1);
        var y = Tensor.Empty(a.Device, DType.F32, m, n);
        using (Profiler.Op("scaled_mm"))
            ScaledMm.Run(a.Device, a.F8, aFormat, bT.F8, bFormat, m, n, k, scaleA.F32, scaleB.F32, y.F32, useFastAccum);
        return y;
    }
}
