using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// Σ of all elements (shape (1)) or of the last dimension (the last dim removed, or kept as 1), times a
/// constant scale (1 for sum, 1/n for mean). Backward sends scale·dy back to every element it summed.
/// Sums run in a fixed order (the same bits on every run of one device).
/// </summary>
internal sealed class Sum(bool lastDimOnly, bool keepDim, float scale) : Function(scale == 1f ? "sum" : "mean")
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var device = x.Device;
        Tensor y;
        if (lastDimOnly)
        {
            int width = x.Dim(-1), rows = (int)(x.Length / Math.Max(1, width));
            var shape = keepDim ? Dims.With(x.Shape, x.Rank - 1, 1) : x.Shape[..^1];
            y = Tensor.Empty(device, shape.Length == 0 ? [1] : shape);
            device.Layout().RowSums(x.F32, rows, width, y.F32);
        }
        else
        {
            y = Tensor.Empty(device, 1);
            device.Reduction().Sum(x.F32, y.F32);
        }
        if (scale != 1f) device.Elementwise().Scale(y.F32, scale, y.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var x = Inputs[0];
        var dx = Tensor.Empty(x.Device, x.Shape);
        int width = lastDimOnly ? x.Dim(-1) : (int)x.Length;
        x.Device.Layout().Repeat(gradOutputs[0].F32, width, scale, dx.F32);
        return [dx];
    }
}

/// <summary>‖x‖₂ over all elements (the Frobenius norm of a matrix), shape (1); dx = x·dy/‖x‖.</summary>
internal sealed class Norm() : Function("norm")
{
    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var x = inputs[0];
        var y = Tensor.Empty(x.Device, 1);
        x.Device.Reduction().SumOfSquares(x.F32, y.F32);
        x.Device.Activations().Forward<Kernels.Ops.Sqrt>(y.F32, y.F32);
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var x = Inputs[0];
        var k = x.Device.Arithmetic();
        using var ratio = Tensor.Persistent(x.Device, DType.F32, 1);
        k.Apply<DivOp>(gradOutputs[0].F32, Outputs[0].F32, ratio.F32);
        var dx = Tensor.Empty(x.Device, x.Shape);
        k.Apply<MulOp>(x.F32, ratio.F32, dx.F32);
        return [dx];
    }
}
