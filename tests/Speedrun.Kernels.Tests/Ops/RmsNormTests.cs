using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The rms_norm specs check F.RmsNorm on rows of N(0, 1). Left to these tests: the saved rstd, rows at scales
/// from 1e-4 (where eps dominates) to 1e2, one-column rows, and the shape checks.
/// </summary>
public class RmsNormTests
{
    /// <summary>(N, C, lanes): lanes 1 is the CPU path; the warp size runs the CUDA-style shuffle path.</summary>
    public static TheoryData<int, int, bool> Shapes()
    {
        var shapes = new TheoryData<int, int, bool>();
        foreach (var (n, c) in new[] { (3, 1), (37, 5), (37, 96), (7, 768) })
        {
            shapes.Add(n, c, false);
            shapes.Add(n, c, true);
        }
        return shapes;
    }

    const float Eps = 1e-6f;

    static Tensor Reference(Tensor x) => x / (x.square().mean([-1], keepdim: true) + Eps).sqrt();

    // Rows are fp32 sums of up to 768 squares (relative error well under 1e-6 in 1/sqrt), outputs O(1):
    // forward atol/rtol 1e-6. The backward subtracts x·r²·mean(dy·x) from dy, cancelling: atol 1e-5 (at scale
    // 1e-4 r is ~1e3, and dx grows with it: rtol 1e-5 covers that).
    [Theory, MemberData(nameof(Shapes))]
    public void RowsAtEveryScaleNormalizeAndSaveRstd(int n, int c, bool warpLanes)
    {
        // Row i has scale 10^(i mod 7 - 4): 1e-4 .. 1e2. At 1e-4, mean(x²) ≈ 1e-8 is below eps = 1e-6.
        var scale = Exact32(tensor(Enumerable.Range(0, n).Select(i => Math.Pow(10, i % 7 - 4)).ToArray()).reshape(n, 1));
        var x = Exact32(Randn(n * 100 + c, n, c) * scale);
        var dy = Exact32(Randn(7 + c, n, c));
        var (y, grads) = Backprop(t => Reference(t[0]), dy, x);
        var rstd = 1 / (x.square().mean([-1]) + Eps).sqrt();

        using var dX = Upload(x);
        using var dDy = Upload(dy);
        using var dY = Poisoned(n * c);
        using var dRstd = Poisoned(n);
        using var dDx = Poisoned(n * c);
        var ops = warpLanes ? new RmsNormKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.RmsNorm();
        ops.Forward(dX.View, n, c, Eps, dY.View, dRstd.View);
        Close(y, Download(dY), 1e-6, 1e-6, $"RmsNorm y ({n}x{c})");
        Close(rstd, Download(dRstd), 0, 1e-6, $"RmsNorm rstd ({n}x{c})");
        ops.Backward(dDy.View, dX.View, dRstd.View, n, c, dDx.View);
        Close(grads[0], Download(dDx), 1e-5, 1e-5, $"RmsNorm dx ({n}x{c})");
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var x = Poisoned(12);
        using var rstd = Poisoned(3);
        var e = Assert.Throws<ArgumentException>(() => Cpu.RmsNorm().Forward(x.View, 3, 5, Eps, x.View, rstd.View));
        Assert.Contains("RmsNorm", e.Message);
        Assert.Contains("C=5", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.RmsNorm().Backward(x.View, x.View, x.View, 3, 4, x.View));
        Assert.Contains("RmsNorm backward", e.Message);
        Assert.Contains("rstd", e.Message);
        Assert.All(Download(x), v => Assert.True(float.IsNaN(v)));
        Assert.All(Download(rstd), v => Assert.True(float.IsNaN(v)));
    }
}
