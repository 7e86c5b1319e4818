using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

public class AdamWTests
{
    // fp32 state against float64 TorchSharp: every quantity is a handful of roundings away (~1e-7 relative),
    // so 1e-6 relative (with an absolute floor for elements near 0) after five steps.
    const double Atol = 1e-7, Rtol = 1e-6;
    const int Steps = 5;

    [Theory]
    [InlineData(1, 0.1, 1.0)]
    [InlineData(37, 0.1, 1.0)]
    [InlineData(1000, 0.1, 0.37)]
    [InlineData(37, 0.0, 1.0)]
    [InlineData(1000, 0.0, 0.37)]
    public void FiveStepsMatchTorchAdamW(int n, double weightDecay, double gradScale)
    {
        const double lr = 1e-2, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
        var p0 = Exact32(Randn(n, n));
        var grads = Enumerable.Range(0, Steps).Select(s => Exact32(Randn(1000 + 10 * n + s, n))).ToArray();

        // TorchSharp: float64 parameter, the gradient of sum(p * g * gradScale) is g * gradScale.
        var param = new TorchSharp.Modules.Parameter(p0.clone());
        using var optimizer = optim.AdamW([param], lr, beta1, beta2, eps, weightDecay);
        // Float64 moments by the same recurrences, to check m and v too.
        var m = zeros_like(p0);
        var v = zeros_like(p0);

        using var dp = Upload(p0);
        using var dm = Upload(new float[n]);
        using var dv = Upload(new float[n]);
        using var dScale = Upload([(float)gradScale]);
        var ops = Cpu.AdamW();
        for (int s = 0; s < Steps; s++)
        {
            optimizer.zero_grad();
            (param * grads[s] * gradScale).sum().backward();
            optimizer.step();
            var g = grads[s] * gradScale;
            m = beta1 * m + (1 - beta1) * g;
            v = beta2 * v + (1 - beta2) * g * g;

            using var dg = Upload(grads[s]);
            ops.Step(dp.View, dg.View, dm.View, dv.View,
                new AdamWStep(lr, beta1, beta2, eps, weightDecay, Step: s + 1), dScale.View);
            string what = $"step {s + 1} (n={n}, wd={weightDecay}, gradScale={gradScale})";
            Close(param.detach(), Download(dp), Atol, Rtol, $"param after {what}");
            Close(m, Download(dm), Atol, Rtol, $"m after {what}");
            Close(v, Download(dv), 1e-12, Rtol, $"v after {what}");
        }
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var a = Poisoned(8);
        using var b = Poisoned(9);
        using var one = Poisoned(1);
        var hp = new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.1, 1);
        var ops = Cpu.AdamW();
        var e = Assert.Throws<ArgumentException>(() => ops.Step(a.View, a.View, b.View, a.View, hp, one.View));
        Assert.Contains("AdamW.Step", e.Message);
        Assert.Contains("9", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.Step(a.View, a.View, a.View, a.View, hp, a.View));
        Assert.Contains("gradScale", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.Step(a.View, a.View, a.View, a.View, hp with { Step = 0 }, one.View));
        Assert.Contains("starts at 1", e.Message);
    }
}
