using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>y = op(x) element-wise for an operator struct (Square, Relu, Tanh, GeluErf, or one a program
/// defines); the backward recomputes from the saved input: dx = op'(x)·dy.</summary>
internal sealed class Unary<TOp>(string name) : Function(name) where TOp : struct, IUnaryOp
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Activations().Forward<TOp>(x.F32, y.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var x = Inputs[0];
        var dx = Tensor.Empty(x.Device, x.Shape);
        x.Device.Activations().Backward<TOp>(x.F32, gradOutputs[0].F32, dx.F32);
        return [dx];
    }
}
