using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>Weightless RMSNorm over the last dimension: y = x / √(mean(x²) + eps). Saves 1/rms per row.
/// (F.RmsNorm multiplies by the optional weight as a separate broadcast op.)</summary>
internal sealed class RmsNorm(float eps) : Function("rms_norm")
{
    Tensor? _rstd;
    int _rows, _c;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        _c = x.Dim(-1);
        _rows = (int)(x.Length / _c);
        var y = Tensor.Empty(x.Device, x.Shape);
        _rstd = Tensor.Empty(x.Device, _rows);
        x.Device.RmsNorm().Forward(x.F32, _rows, _c, eps, y.F32, _rstd.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var x = Inputs[0];
        var dx = Tensor.Empty(x.Device, x.Shape);
        x.Device.RmsNorm().Backward(gradOutputs[0].F32, x.F32, _rstd!.F32, _rows, _c, dx.F32);
        return [dx];
    }
}
