using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// The shape rule of the element-wise binary ops: both operands have the same shape, or one of them (the
/// smaller) broadcasts over the other's leading dimensions: its shape, without leading 1s, is a suffix of the
/// other's, or it has a single element (a scalar such as a learnable λ or a norm). The result has the larger
/// shape. PyTorch's rule is wider (any dim of size 1); this one covers what the records do.
/// </summary>
internal static class Broadcast
{
    public static int[] ResultShape(string op, Tensor a, Tensor b)
    {
        if (a.Shape.SequenceEqual(b.Shape)) return a.Shape;
        var (big, small) = a.Length >= b.Length ? (a, b) : (b, a);
        if (small.Length == 1 || IsSuffix(small.Shape, big.Shape)) return big.Shape;
        throw new ArgumentException(
            $"{op}: cannot broadcast {a.Describe()} with {b.Describe()}: the smaller operand must have one element " +
            "or a shape (leading 1s aside) equal to the trailing dimensions of the larger.");
    }

    static bool IsSuffix(int[] small, int[] big)
    {
        int start = 0;
        while (start < small.Length && small[start] == 1) start++;
        int n = small.Length - start;
        if (n > big.Length) return false;
        for (int i = 0; i < n; i++)
            if (small[start + i] != big[big.Length - n + i]) return false;
        return true;
    }

    /// <summary>The gradient of an operand of shape <paramref name="shape"/> from a full-size term: the term
    /// itself, or its sum over the repeats when the operand was broadcast.</summary>
    public static Tensor SumTo(Tensor full, int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n == full.Length) return full.Length == 0 || full.Shape.SequenceEqual(shape) ? full : full.AliasWithShape(shape);
        var device = full.Device;
        var result = Tensor.Zeros(device, shape);
        if (n == 1) device.Reduction().Sum(full.F32, result.F32);
        else device.ColumnSum().Accumulate(full.F32, (int)(full.Length / n), (int)n, result.F32);
        return result;
    }
}

/// <summary>z = a op b with broadcasting (<see cref="Broadcast"/>): Add, Sub, Mul, Div.</summary>
internal sealed class Binary<TOp>(string name) : Function(name) where TOp : struct, IBinaryOp
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var (a, b) = (inputs[0], inputs[1]);
        var z = Tensor.Empty(a.Device, Broadcast.ResultShape(Name, a, b));
        a.Device.Arithmetic().Apply<TOp>(a.F32, b.F32, z.F32);
        return [z];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dz = gradOutputs[0];
        var (a, b) = (Inputs[0], Inputs[1]);
        var k = dz.Device.Arithmetic();
        Tensor? da = null, db = null;
        Tensor Full(Action<Tensor> compute)
        {
            var t = Tensor.Empty(dz.Device, dz.Shape);
            compute(t);
            return t;
        }
        if (typeof(TOp) == typeof(AddOp))
        {
            if (NeedsInputGrad(0)) da = Broadcast.SumTo(dz, a.Shape);
            if (NeedsInputGrad(1)) db = Broadcast.SumTo(dz, b.Shape);
        }
        else if (typeof(TOp) == typeof(SubOp))
        {
            if (NeedsInputGrad(0)) da = Broadcast.SumTo(dz, a.Shape);
            if (NeedsInputGrad(1)) db = Broadcast.SumTo(Full(t => k.Affine(dz.F32, -1f, 0f, t.F32)), b.Shape);
        }
        else if (typeof(TOp) == typeof(MulOp))
        {
            if (NeedsInputGrad(0)) da = Broadcast.SumTo(Full(t => k.Apply<MulOp>(dz.F32, b.F32, t.F32)), a.Shape);
            if (NeedsInputGrad(1)) db = Broadcast.SumTo(Full(t => k.Apply<MulOp>(dz.F32, a.F32, t.F32)), b.Shape);
        }
        else // DivOp: da = dz / b, db = -dz·a / b²
        {
            if (NeedsInputGrad(0)) da = Broadcast.SumTo(Full(t => k.Apply<DivOp>(dz.F32, b.F32, t.F32)), a.Shape);
            if (NeedsInputGrad(1))
                db = Broadcast.SumTo(Full(t =>
                {
                    k.Apply<MulOp>(dz.F32, a.F32, t.F32);
                    k.Apply<DivGradDenominatorOp>(t.F32, b.F32, t.F32);
                }), b.Shape);
        }
        return [da, db];
    }
}

/// <summary>y = α·x + β for constants α, β (x·s, x + s, s - x, -x); dx = α·dy.</summary>
internal sealed class Affine(float alpha, float beta) : Function("affine")
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var y = Tensor.Empty(x.Device, x.Shape);
        if (beta == 0f) x.Device.Elementwise().Scale(x.F32, alpha, y.F32);
        else x.Device.Arithmetic().Affine(x.F32, alpha, beta, y.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var dx = Tensor.Empty(dy.Device, dy.Shape);
        dy.Device.Elementwise().Scale(dy.F32, alpha, dx.F32);
        return [dx];
    }
}
