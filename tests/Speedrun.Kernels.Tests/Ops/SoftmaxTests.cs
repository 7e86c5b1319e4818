using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

public class SoftmaxTests
{
    /// <summary>(N, C, lanes): lanes 1 is the CPU path; the warp size runs the CUDA-style shuffle path.</summary>
    public static TheoryData<int, int, bool> Shapes()
    {
        var shapes = new TheoryData<int, int, bool>();
        foreach (var (n, c) in new[] { (1, 1), (3, 5), (37, 33), (5, 96), (1, 37), (4, 1000) })
        {
            shapes.Add(n, c, false);
            shapes.Add(n, c, true);
        }
        return shapes;
    }

    // Forward: our exp is within ~1 ulp, then one multiplication by 1/(fp32 row sum of up to 1000 terms):
    // rtol 2e-6. Rounding x - max to fp32 costs |x - max|·2^-24 relative, up to 1e-5 for the ±80 row,
    // but only where the probability is below e^-14 ≈ 1e-6: atol 1e-9 covers those.
    // Backward: y·(dy - Σ y·dy) cancels inside the bracket: atol 1e-6, rtol 1e-5.
    [Theory, MemberData(nameof(Shapes))]
    public void ForwardAndBackwardMatchTorch(int n, int c, bool warpLanes)
    {
        // Row 0 spans ±80 (exp would overflow without the max shift), the rest are O(1).
        var x = Randn(n * 31 + c, n, c);
        x[0] = Uniform(5, -80, 80, c);
        x = Exact32(x);
        var dy = Exact32(Randn(17 + c, n, c));
        var (y, grads) = Backprop(t => softmax(t[0], -1), dy, x);

        using var dX = Upload(x);
        using var dDy = Upload(dy);
        using var dY = Poisoned(n * c);
        using var dDx = Poisoned(n * c);
        var ops = warpLanes ? new SoftmaxKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.Softmax();
        ops.Forward(dX.View, n, c, dY.View);
        Close(y, Download(dY), 1e-9, 2e-6, $"Softmax y ({n}x{c})");
        ops.Backward(dY.View, dDy.View, n, c, dDx.View);
        Close(grads[0], Download(dDx), 1e-6, 1e-5, $"Softmax dx ({n}x{c})");
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var x = Poisoned(12);
        using var y = Poisoned(10);
        var e = Assert.Throws<ArgumentException>(() => Cpu.Softmax().Forward(x.View, 3, 4, y.View));
        Assert.Contains("Softmax", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.Softmax().Backward(x.View, x.View, 3, 4, y.View));
        Assert.Contains("Softmax backward", e.Message);
    }
}
