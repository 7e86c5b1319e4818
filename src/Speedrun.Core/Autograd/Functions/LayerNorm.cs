using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>F.layer_norm over the last dimension with weight and bias (C): y = (x − μ)·r·w + b. Saves μ and
/// r = 1/σ per row; the weight and bias gradients are fixed-order column sums.</summary>
internal sealed class LayerNorm(float eps) : Function("layer_norm")
{
    Tensor? _mean, _rstd;
    int _rows, _c;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var (x, w, b) = (inputs[0], inputs[1], inputs[2]);
        _c = x.Dim(-1);
        _rows = (int)(x.Length / _c);
        Check.That(w.Length == _c && b.Length == _c, "LayerNorm",
            () => $"weight {w.Describe()} and bias {b.Describe()} must have {_c} elements, the last dim of {x.Describe()}.");
        var y = Tensor.Empty(x.Device, x.Shape);
        _mean = Tensor.Empty(x.Device, _rows);
        _rstd = Tensor.Empty(x.Device, _rows);
        x.Device.LayerNorm().Forward(x.F32, w.F32, b.F32, _rows, _c, eps, y.F32, _mean.F32, _rstd.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var (x, w, b) = (Inputs[0], Inputs[1], Inputs[2]);
        var device = x.Device;
        var dx = Tensor.Empty(device, x.Shape);
        var dw = Tensor.Zeros(device, w.Shape);
        var db = Tensor.Zeros(device, b.Shape);
        device.LayerNorm().Backward(gradOutputs[0].F32, x.F32, w.F32, _mean!.F32, _rstd!.F32, _rows, _c, dx.F32, dw.F32, db.F32);
        return [NeedsInputGrad(0) ? dx : null, NeedsInputGrad(1) ? dw : null, NeedsInputGrad(2) ? db : null];
    }
}
