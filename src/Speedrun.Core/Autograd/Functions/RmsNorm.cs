using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>Weightless RMSNorm over the last dimension: y = x / √(mean(x²) + eps). Saves 1/rms per row.</summary>
internal sealed class RmsNorm : Node
{
    readonly Tensor _rstd;
    readonly int _rows, _c;

    RmsNorm(Tensor x, Tensor rstd, int rows, int c) : base("rms_norm", x) => (_rstd, _rows, _c) = (rstd, rows, c);

    public static Tensor Apply(Tensor x, float eps)
    {
        int c = x.Dim(-1), rows = (int)(x.Length / c);
        var y = Tensor.Empty(x.Device, x.Shape);
        var rstd = Tensor.Empty(x.Device, rows);
        x.Device.RmsNorm().Forward(x.F32, rows, c, eps, y.F32, rstd.F32);
        return Record(new RmsNorm(x, rstd, rows, c), y);
    }

    public override Tensor?[] Backward(Tensor dy)
    {
        var x = Inputs[0];
        var dx = Tensor.Empty(x.Device, x.Shape);
        x.Device.RmsNorm().Backward(dy.F32, x.F32, _rstd.F32, _rows, _c, dx.F32);
        return [dx];
    }
}
