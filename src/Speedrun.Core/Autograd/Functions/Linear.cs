using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// y = x·Wᵀ with W stored (out, in) as in PyTorch; x is (..., in). Backward: dx = dy·W, dW += dyᵀ·x.
/// Precision: fp32 GEMMs, or under <see cref="MatmulPrecision.BF16"/> autocast operands rounded to bf16 with
/// fp32 accumulation, in the forward and (recorded at forward time) in the backward GEMMs.
/// With padTo &gt; 1 the output's last dimension is rounded up to a multiple of it (e.g. 50257 logits stored
/// 50304 wide): GEMMs with aligned leading dimensions run several times faster. The padding columns hold no
/// values; <see cref="F.CrossEntropy"/> ignores them when told the class count.
/// </summary>
internal sealed class Linear(int padTo, string name) : Function(name)
{
    readonly MatmulPrecision _precision = Autocast.Current;
    int _rows, _in, _out, _stride;

    /// <summary>The output row width: <paramref name="outFeatures"/> rounded up to a multiple of
    /// <paramref name="padTo"/>.</summary>
    public static int PaddedWidth(int outFeatures, int padTo) => (outFeatures + padTo - 1) / padTo * padTo;

    protected override Tensor[] Forward(Tensor[] inputs)
    {
        var (x, w) = (inputs[0], inputs[1]);
        Check.Rank("Linear", w, 2, "a weight of shape (out, in)");
        Check.That(x.Dim(-1) == w.Dim(1), "Linear", () => $"input {x.Describe()} has {x.Dim(-1)} features but weight {w.Describe()} expects {w.Dim(1)}.");
        int rows = (int)(x.Length / w.Dim(1));
        Check.That(padTo >= 1, "Linear", () => $"padTo must be at least 1, got {padTo}.");
        int outF = w.Dim(0), inF = w.Dim(1), stride = PaddedWidth(outF, padTo);
        var shape = (int[])x.Shape.Clone();
        shape[^1] = stride;
        var y = Tensor.Empty(x.Device, shape);
        (_rows, _out, _in, _stride) = (rows, outF, inF, stride);
        var precision = _precision;
        if (precision == MatmulPrecision.BF16 && stride != outF)
        {
            // The bf16 copy of W gets zero rows up to the padded width, so the GEMM's every dimension is aligned
            // (cuBLAS is far slower with an odd one) and the padding columns come out as exact zeros.
            using var x16 = GemmRunner.ToBf16(x.Device, x);
            using var w16 = GemmRunner.ToBf16Padded(x.Device, w, stride);
            GemmRunner.Run(x.Device, Gemm.Dense(false, true, rows, stride, inF), x16, w16, y);
        }
        else
        {
            GemmRunner.Run(x.Device, new Gemm(false, true, rows, outF, inF, Lda: inF, Ldb: inF, Ldc: stride), x, w, y, precision);
        }
        return [y];
    }

    public override Tensor?[] Backward(Tensor[] gradOutputs)
    {
        var dy = gradOutputs[0];
        var (x, w) = (Inputs[0], Inputs[1]);
        var device = dy.Device;
        // dy may be wider than the output (padding columns): read only the first _out of each row.
        var dxShape = new Gemm(false, false, _rows, _in, _out, Lda: _stride, Ldb: _in, Ldc: _in);
        // Accumulate straight into a parameter's gradient (beta = 1): no temporary.
        var dwShape = new Gemm(true, false, _out, _in, _rows, Lda: _stride, Ldb: _in, Ldc: _in, Beta: w.IsLeaf ? 1f : 0f);
        Tensor? dx = x.RequiresGrad ? Tensor.Empty(device, x.Shape) : null;
        Tensor? dw = w.RequiresGrad ? (w.IsLeaf ? w.Grad! : Tensor.Empty(device, w.Shape)) : null;
        if (_precision == MatmulPrecision.F32)
        {
            if (dx is not null) GemmRunner.Run(device, dxShape, dy, w, dx, _precision);
            if (dw is not null) GemmRunner.Run(device, dwShape, dy, x, dw, _precision);
        }
        else
        {
            using var dy16 = GemmRunner.ToBf16(device, dy); // shared by both GEMMs
            if (dx is not null)
            {
                // With padding, K runs over the padded width against W's zero rows (the padding columns of dy
                // must be finite; CrossEntropy writes zeros there).
                using var w16 = _stride == _out ? GemmRunner.ToBf16(device, w) : GemmRunner.ToBf16Padded(device, w, _stride);
                var shape = _stride == _out ? dxShape : Gemm.Dense(false, false, _rows, _in, _stride);
                GemmRunner.Run(device, shape, dy16, w16, dx);
            }
            if (dw is not null)
            {
                using var x16 = GemmRunner.ToBf16(device, x);
                GemmRunner.Run(device, dwShape, dy16, x16, dw);
            }
        }
        return [dx, w.IsLeaf ? null : dw];
    }
}
