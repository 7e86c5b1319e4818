using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd;

/// <summary>The in-place tensor methods (Add_, Mul_, Lerp_, ...): no graph; refused on a tensor that is part
/// of one while grad mode is on, as PyTorch refuses in-place changes to leaves that require grad.</summary>
internal static class InPlace
{
    static void Allowed(string op, Tensor t)
    {
        if (t.DType != DType.F32) throw new InvalidOperationException($"{op}: {t.Describe()} is not F32.");
        if (GradMode.Enabled && t.RequiresGrad)
            throw new InvalidOperationException(
                $"{op} on {t.Describe()}, which requires grad, while gradients are recorded: wrap optimizer code in `using (GradMode.NoGrad())`.");
    }

    static void Operand(string op, Tensor t, Tensor other)
    {
        if (other.Length != t.Length && (other.Length == 0 || t.Length % other.Length != 0))
            throw new ArgumentException($"{op}: {other.Describe()} does not broadcast onto {t.Describe()}.");
    }

    public static Tensor Fill(Tensor t, float value)
    {
        Allowed("Fill_", t);
        t.Device.Elementwise().Fill(t.F32, value);
        return t;
    }

    public static Tensor Copy(Tensor t, Tensor source)
    {
        Allowed("Copy_", t);
        if (source.Length != t.Length) throw new ArgumentException($"Copy_: {source.Describe()} into {t.Describe()}: lengths differ.");
        t.Device.Elementwise().Copy(source.F32, t.F32);
        return t;
    }

    public static Tensor Affine(Tensor t, float alpha, float beta)
    {
        Allowed(beta == 0f ? "Mul_" : "Add_", t);
        t.Device.Arithmetic().Affine(t.F32, alpha, beta, t.F32);
        return t;
    }

    public static Tensor Add(Tensor t, Tensor other, float alpha)
    {
        Allowed("Add_", t);
        Operand("Add_", t, other);
        if (other.Length == t.Length) t.Device.Elementwise().Accumulate(other.F32, alpha, t.F32);
        else if (alpha == 1f) t.Device.Arithmetic().Apply<AddOp>(t.F32, other.F32, t.F32);
        else
        {
            using var scaled = Tensor.Persistent(t.Device, DType.F32, other.Shape);
            t.Device.Elementwise().Scale(other.F32, alpha, scaled.F32);
            t.Device.Arithmetic().Apply<AddOp>(t.F32, scaled.F32, t.F32);
        }
        return t;
    }

    public static Tensor Mul(Tensor t, Tensor other)
    {
        Allowed("Mul_", t);
        Operand("Mul_", t, other);
        t.Device.Arithmetic().Apply<MulOp>(t.F32, other.F32, t.F32);
        return t;
    }

    public static Tensor Div(Tensor t, Tensor other)
    {
        Allowed("Div_", t);
        Operand("Div_", t, other);
        t.Device.Arithmetic().Apply<DivOp>(t.F32, other.F32, t.F32);
        return t;
    }

    public static Tensor Lerp(Tensor t, Tensor end, float weight)
    {
        Allowed("Lerp_", t);
        if (end.Length != t.Length) throw new ArgumentException($"Lerp_: {end.Describe()} and {t.Describe()} differ in length.");
        t.Device.Arithmetic().Lerp(t.F32, end.F32, weight);
        return t;
    }
}
