using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>z = a + b (the residual stream); both inputs get dz.</summary>
internal sealed class Add : Node
{
    Add(Tensor a, Tensor b) : base("add", a, b) { }

    public static Tensor Apply(Tensor a, Tensor b)
    {
        Check.SameShape("Add", a, b);
        var z = Tensor.Empty(a.Device, a.Shape);
        a.Device.Elementwise().Add(a.F32, b.F32, z.F32);
        return Record(new Add(a, b), z);
    }

    public override Tensor?[] Backward(Tensor dz) => [dz, dz];
}

/// <summary>y = s·x for a constant s (e.g. GPT-2's 1/√(2L) branch scale); dx = s·dy.</summary>
internal sealed class Scale : Node
{
    readonly float _s;

    Scale(Tensor x, float s) : base("scale", x) => _s = s;

    public static Tensor Apply(Tensor x, float s)
    {
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Elementwise().Scale(x.F32, s, y.F32);
        return Record(new Scale(x, s), y);
    }

    public override Tensor?[] Backward(Tensor dy)
    {
        var dx = Tensor.Empty(dy.Device, dy.Shape);
        dy.Device.Elementwise().Scale(dy.F32, _s, dx.F32);
        return [dx];
    }
}
