using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

public class LayerNormTests
{
    /// <summary>(N, C, lanes): lanes 1 is the CPU path; the warp size runs the CUDA-style shuffle path.</summary>
    public static TheoryData<int, int, bool> Shapes()
    {
        var shapes = new TheoryData<int, int, bool>();
        foreach (bool warpLanes in new[] { false, true })
        {
            foreach (int n in new[] { 1, 3, 37 })
                foreach (int c in new[] { 1, 5, 33, 96 })
                    shapes.Add(n, c, warpLanes);
            shapes.Add(100, 7, warpLanes);   // four column-sum chunks, the last one partial
            shapes.Add(70, 768, warpLanes);  // GPT-2's width
        }
        return shapes;
    }

    const float Eps = 1e-5f;

    // Forward: fp32 row sums of up to 768 values; outputs O(1) (atol/rtol 2e-6).
    // dx: cancelling differences of row means (atol 1e-5, rtol 1e-5).
    // dw, db: sums over up to 100 rows of O(1) terms, accumulated onto O(1) values (atol 1e-5).
    [Theory, MemberData(nameof(Shapes))]
    public void ForwardAndBackwardMatchTorch(int n, int c, bool warpLanes)
    {
        var x = Exact32(Randn(n * 1000 + c, n, c) * 2 + 0.5);
        var w = Exact32(Randn(11 + c, c) * 0.5 + 1);
        var b = Exact32(Randn(12 + c, c) * 0.1);
        var dy = Exact32(Randn(13 + c, n, c));
        var dw0 = Exact32(Randn(14 + c, c));
        var db0 = Exact32(Randn(15 + c, c));
        var (y, grads) = Backprop(t => nn.functional.layer_norm(t[0], [c], t[1], t[2], Eps), dy, x, w, b);
        var mean = x.mean([-1]);
        var rstd = 1 / (x.var(-1, unbiased: false) + Eps).sqrt();

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
        var ops = warpLanes ? new LayerNormKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.LayerNorm();
        ops.Forward(dX.View, dW.View, dB.View, n, c, Eps, dY.View, dMean.View, dRstd.View);
        Close(y, Download(dY), 2e-6, 2e-6, $"LayerNorm y ({n}x{c})");
        Close(mean, Download(dMean), 1e-6, 1e-6, $"LayerNorm mean ({n}x{c})");
        Close(rstd, Download(dRstd), 0, 2e-6, $"LayerNorm rstd ({n}x{c})");

        ops.Backward(dDy.View, dX.View, dW.View, dMean.View, dRstd.View, n, c, dDx.View, dDw.View, dDb.View);
        Close(grads[0], Download(dDx), 1e-5, 1e-5, $"LayerNorm dx ({n}x{c})");
        Close(dw0 + grads[1], Download(dDw), 1e-5, 1e-5, $"LayerNorm dweight ({n}x{c})");
        Close(db0 + grads[2], Download(dDb), 1e-5, 1e-5, $"LayerNorm dbias ({n}x{c})");
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
    }
}
