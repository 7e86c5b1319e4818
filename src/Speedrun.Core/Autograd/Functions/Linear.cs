using Speedrun.Kernels.Blas;
using Speedrun.Kernels.Ops;

namespace Speedrun.Core.Autograd.Functions;

/// <summary>
/// y = x·Wᵀ with W stored (out, in) as in PyTorch; x is (..., in). Backward: dx = dy·W, dW = dyᵀ·x.
/// Precision: fp32 GEMMs, or with <see cref="MatmulPrecision.BF16"/> operands rounded to bf16 and fp32
/// accumulation, as PyTorch's bf16 autocast does for the records' matmuls.
/// </summary>
internal sealed class Linear : Node
{
    readonly int _rows, _in, _out;

    Linear(Tensor x, Tensor w, int rows) : base($"linear {w.Dim(1)}->{w.Dim(0)}", x, w)
    {
        _rows = rows;
        _out = w.Dim(0);
        _in = w.Dim(1);
    }

    public static Tensor Apply(Tensor x, Tensor w)
    {
        Check.Rank("Linear", w, 2, "a weight of shape (out, in)");
        Check.That(x.Dim(-1) == w.Dim(1), "Linear", () => $"input {x.Describe()} has {x.Dim(-1)} features but weight {w.Describe()} expects {w.Dim(1)}.");
        int rows = (int)(x.Length / w.Dim(1));
        var shape = (int[])x.Shape.Clone();
        shape[^1] = w.Dim(0);
        var y = Tensor.Empty(x.Device, shape);
        Matmul.Run(x.Device, Gemm.Dense(false, true, rows, w.Dim(0), w.Dim(1)), x, w, y);
        return Record(new Linear(x, w, rows), y);
    }

    public override Tensor?[] Backward(Tensor dy)
    {
        var (x, w) = (Inputs[0], Inputs[1]);
        Tensor? dx = null, dw = null;
        if (x.RequiresGrad)
        {
            dx = Tensor.Empty(x.Device, x.Shape);
            Matmul.Run(x.Device, Gemm.Dense(false, false, _rows, _in, _out), dy, w, dx);
        }
        if (w.RequiresGrad)
        {
            if (w.IsLeaf)
            {
                // Accumulate straight into the parameter's gradient (beta = 1): no temporary.
                Matmul.Run(w.Device, Gemm.Dense(true, false, _out, _in, _rows, beta: 1f), dy, x, w.Grad!);
            }
            else
            {
                dw = Tensor.Empty(w.Device, w.Shape);
                Matmul.Run(w.Device, Gemm.Dense(true, false, _out, _in, _rows), dy, x, dw);
            }
        }
        return [dx, dw];
    }
}
