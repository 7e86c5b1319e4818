using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>GELU, exact-erf form (record 1) or tanh form. Saves its input.</summary>
internal sealed class Gelu : Node
{
    readonly GeluForm _form;

    Gelu(Tensor x, GeluForm form) : base("gelu", x) => _form = form;

    public static Tensor Apply(Tensor x, GeluForm form)
    {
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Activations().Gelu(x.F32, y.F32, form);
        return Record(new Gelu(x, form), y);
    }

    public override Tensor?[] Backward(Tensor dy)
    {
        var x = Inputs[0];
        var dx = Tensor.Empty(x.Device, x.Shape);
        x.Device.Activations().GeluBackward(x.F32, dy.F32, dx.F32, _form);
        return [dx];
    }
}

/// <summary>ReLU² (record 5 on): y = relu(x)².</summary>
internal sealed class ReluSquared : Node
{
    ReluSquared(Tensor x) : base("relu_squared", x) { }

    public static Tensor Apply(Tensor x)
    {
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Activations().ReluSquared(x.F32, y.F32);
        return Record(new ReluSquared(x), y);
    }

    public override Tensor?[] Backward(Tensor dy)
    {
        var x = Inputs[0];
        var dx = Tensor.Empty(x.Device, x.Shape);
        x.Device.Activations().ReluSquaredBackward(x.F32, dy.F32, dx.F32);
        return [dx];
    }
}
