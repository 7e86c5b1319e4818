using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The layer_norm spec checks y and the gradients through F.LayerNorm on a few rows. Left to these tests: the
/// saved mean and rstd, dweight and dbias accumulated onto existing values over many 32-row chunks (the spec's
/// rows fit in one), rows far from zero mean (the two-pass variance), and the shape checks.
/// </summary>
public class LayerNormTests
{
    const float Eps = 1e-5f;

    static LayerNormKernels Kernels(bool warpLanes) =>
        warpLanes ? new LayerNormKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.LayerNorm();

    /// <summary>(N, C, lanes): 33 rows is one row past a chunk, 100 four chunks with the last partial.</summary>
    public static TheoryData<int, int, bool> Shapes()
    {
        var shapes = new TheoryData<int, int, bool>();
        foreach (bool warpLanes in new[] { false, true })
            foreach (var (n, c) in new[] { (33, 5), (100, 7), (70, 768) })
                shapes.Add(n, c, warpLanes);
        return shapes;
    }

    // mean, rstd: fp32 row sums of up to 768 values (1e-6). dw, db: sums over up to 100 rows of O(1) terms,
    // added onto O(1) values (atol 1e-5, as before the specs existed; worst seen 2e-6).
    [Theory, MemberData(nameof(Shapes))]
    public void SavesStatisticsAndAccumulatesParameterGradients(int n, int c, bool warpLanes)
    {
        var x = Exact32(Randn(n * 1000 + c, n, c) * 2 + 0.5);
        var w = Exact32(Randn(11 + c, c) * 0.5 + 1);
        var b = Exact32(Randn(12 + c, c) * 0.1);
        var dy = Exact32(Randn(13 + c, n, c));
        var dw0 = Exact32(Randn(14 + c, c));
        var db0 = Exact32(Randn(15 + c, c));
        var (_, grads) = Backprop(t => nn.functional.layer_norm(t[0], [c], t[1], t[2], Eps), dy, x, w, b);

        using var dX = Upload(x);
        using var dW = Upload(w);
        using var dB = Upload(b);
        using var dDy = Upload(dy);
        using var dY = Poisoned(n * c);
        using var dMean = Poisoned(n);
        using var dRstd = Poisoned(n);
        using var dDx = Poisoned(n * c);
        using var dDw = Upload(dw0);
        using var dDb = Upload(db0);
        var ops = Kernels(warpLanes);
        ops.Forward(dX.View, dW.View, dB.View, n, c, Eps, dY.View, dMean.View, dRstd.View);
        Close(x.mean([-1]), Download(dMean), 1e-6, 1e-6, $"LayerNorm mean ({n}x{c})");
        Close(1 / (x.var(-1, unbiased: false) + Eps).sqrt(), Download(dRstd), 0, 2e-6, $"LayerNorm rstd ({n}x{c})");

        ops.Backward(dDy.View, dX.View, dW.View, dMean.View, dRstd.View, n, c, dDx.View, dDw.View, dDb.View);
        Close(grads[0], Download(dDx), 1e-5, 1e-5, $"LayerNorm dx ({n}x{c})");
        Close(dw0 + grads[1], Download(dDw), 1e-5, 1e-5, $"LayerNorm dweight += ({n}x{c})");
        Close(db0 + grads[2], Download(dDb), 1e-5, 1e-5, $"LayerNorm dbias += ({n}x{c})");
    }

    /// <summary>
    /// Rows of mean 1000 and spread 1: E[x²] - μ² in fp32 would lose every digit of the variance (x² ≈ 1e6, an
    /// ulp of which is 0.06); the two-pass variance keeps rstd to about the error of the fp32 mean (~1e-5).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RowsFarFromZeroMeanKeepTheirVariance(bool warpLanes)
    {
        const int n = 5, c = 768;
        var x = Exact32(Randn(3, n, c) + 1000);
        using var dX = Upload(x);
        using var dW = Upload(Enumerable.Repeat(1f, c).ToArray());
        using var dB = Upload(new float[c]);
        using var dY = Poisoned(n * c);
        using var dMean = Poisoned(n);
        using var dRstd = Poisoned(n);
        Kernels(warpLanes).Forward(dX.View, dW.View, dB.View, n, c, Eps, dY.View, dMean.View, dRstd.View);
        Close(1 / (x.var(-1, unbiased: false) + Eps).sqrt(), Download(dRstd), 0, 1e-4, "rstd of rows around 1000");
        Close(nn.functional.layer_norm(x, [c], eps: Eps), Download(dY), 1e-3, 0, "y of rows around 1000");
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var x = Poisoned(15);
        using var w = Poisoned(5);
        using var stats = Poisoned(3);
        var e = Assert.Throws<ArgumentException>(() =>
            Cpu.LayerNorm().Forward(x.View, w.View, w.View, 3, 5, Eps, x.View, stats.View, w.View));
        Assert.Contains("LayerNorm", e.Message);
        Assert.Contains("rstd", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.LayerNorm().Backward(
            x.View, x.View, w.View, stats.View, stats.View, 3, 5, x.View, w.View, stats.View));
        Assert.Contains("LayerNorm backward", e.Message);
        Assert.Contains("dBias", e.Message);
        Assert.All(Download(x), v => Assert.True(float.IsNaN(v)));
        Assert.All(Download(w), v => Assert.True(float.IsNaN(v)));
    }
}
