using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>Softmax over the last dimension; saves its output: dx = y ⊙ (dy - Σ y·dy).</summary>
internal sealed class Softmax() : Function("softmax")
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        int c = x.Dim(-1);
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Softmax().Forward(x.F32, (int)(x.Length / c), c, y.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var y = Outputs[0];
        int c = y.Dim(-1);
        var dx = Tensor.Empty(y.Device, y.Shape);
        y.Device.Softmax().Backward(y.F32, gradOutputs[0].F32, (int)(y.Length / c), c, dx.F32);
        return [dx];
    }
}
