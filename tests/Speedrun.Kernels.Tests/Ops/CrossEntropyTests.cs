using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

public class CrossEntropyTests
{
    // Loss: fp32 log-sum-exp of values up to ~|30| against float64; softcapped logits carry the fp32 rounding
    // of z/s and s*tanh (~3e-7 relative of 30); worst seen 3.6e-6, so 2e-5 absolute + 1e-5 relative.
    // Gradient: probabilities times dLossScale (here 1/5), off by ~1e-6 relative through exp of arguments up to
    // ~60; worst seen 2.2e-8 absolute, so 1e-7 absolute + 1e-4 relative.
    const double LossAtol = 2e-5, LossRtol = 1e-5, GradAtol = 1e-7, GradRtol = 1e-4;
    const int N = 7;

    public static TheoryData<int, bool, float, bool> Cases()
    {
        var data = new TheoryData<int, bool, float, bool>();
        foreach (int v in new[] { 5, 97, 1000 })
        foreach (bool padded in new[] { false, true })
        foreach (float softcap in new[] { 0f, 30f, 15f })
        foreach (bool inPlace in new[] { false, true })
            data.Add(v, padded, softcap, inPlace);
        return data;
    }

    /// <summary>Targets with one negative (ignore_index) row and one row whose target is V (also ignored).</summary>
    static int[] Targets(int v, int seed)
    {
        var rng = new Random(seed);
        var t = Enumerable.Range(0, N).Select(_ => rng.Next(v)).ToArray();
        t[0] = v - 1;
        t[2] = -1;
        t[5] = v;
        return t;
    }

    static bool Ignored(int target, int v) => target < 0 || target >= v;

    /// <summary>Float64 losses (reduction none), mean loss and the gradient of dLossScale * sum(losses), padded
    /// to Vp with zero columns.</summary>
    static (Tensor Losses, double Mean, Tensor Grad) Reference(Tensor z64, int[] targets, int v, int vp,
        float softcap, double dLossScale)
    {
        using var scope = NewDisposeScope();
        var z = z64.detach().clone().requires_grad_(true);
        var c = softcap > 0 ? softcap * (z / softcap).tanh() : z;
        var t = tensor(targets.Select(x => Ignored(x, v) ? -1L : x).ToArray());
        var losses = nn.functional.cross_entropy(c, t, ignore_index: -1, reduction: nn.Reduction.None);
        double mean = nn.functional.cross_entropy(c, t, ignore_index: -1, reduction: nn.Reduction.Mean).item<double>();
        (losses * dLossScale).sum().backward();
        var grad = nn.functional.pad(z.grad!, [0, vp - v]);
        return (losses.detach().MoveToOuterDisposeScope(), mean, grad.detach().MoveToOuterDisposeScope());
    }

    [Theory, MemberData(nameof(Cases))]
    public void LossAndGradientMatchTorch(int v, bool padded, float softcap, bool inPlace) =>
        Check(Cpu.CrossEntropy(), v, padded ? (v + 63) / 64 * 64 + 3 : v, softcap, inPlace, seed: v + (int)softcap);

    /// <summary>The CUDA-style path with several lanes per row (shuffle merges of max/sum/target), on the CPU's
    /// 4-wide warps; V = 5 leaves most lanes without a column.</summary>
    [Theory]
    [InlineData(5, 8, 0f, true)]
    [InlineData(97, 100, 30f, false)]
    [InlineData(1000, 1000, 15f, true)]
    public void MultiLaneRowsMatchTorch(int v, int vp, float softcap, bool inPlace) =>
        Check(new CrossEntropyKernels(Cpu, Cpu.Accelerator.WarpSize), v, vp, softcap, inPlace, seed: 3 * v);

    static void Check(CrossEntropyKernels ops, int v, int vp, float softcap, bool inPlace, int seed)
    {
        var targets = Targets(v, seed);
        int valid = targets.Count(t => !Ignored(t, v));
        double dLossScale = 1.0 / valid;
        var z = Exact32(Randn(seed, N, v) * (softcap > 0 ? softcap : 3.0));
        var (lossRef, meanRef, gradRef) = Reference(z, targets, v, vp, softcap, dLossScale);

        // Padding columns hold NaN: the kernel must neither read them nor leave them in dLogits.
        var host = new float[N * vp];
        Array.Fill(host, float.NaN);
        var zf = F32(z);
        for (int r = 0; r < N; r++) Array.Copy(zf, r * v, host, r * vp, v);
        using var logits = Upload(host);
        using var dTargets = Upload(targets);
        using var losses = Poisoned(N);
        using var separate = inPlace ? null : Poisoned(N * vp);
        var dLogits = inPlace ? logits.View : separate!.View;

        using var forwardLosses = Poisoned(N);
        ops.Forward(logits.View, dTargets.View, N, v, vp, softcap, forwardLosses.View);
        ops.ForwardBackward(logits.View, dTargets.View, N, v, vp, (float)dLossScale, softcap, losses.View, dLogits);

        string what = $"V={v} Vp={vp} softcap={softcap} inPlace={inPlace}";
        var got = Download(losses);
        Close(lossRef, got, LossAtol, LossRtol, $"losses {what}");
        Close(lossRef, Download(forwardLosses), LossAtol, LossRtol, $"forward-only losses {what}");
        Assert.Equal(0f, got[2]);
        Assert.Equal(0f, got[5]);
        Assert.Equal(meanRef, got.Sum(x => (double)x) * dLossScale, 1e-5);
        Close(gradRef, Download(dLogits), GradAtol, GradRtol, $"dLogits {what}");
    }

    [Fact]
    public void ExtremeLogitsStayFinite()
    {
        // Logits of +-1e4: the online max shift keeps exp in range; losses are 0 or ~2e4.
        const int v = 9;
        int[] targets = [0, 8, 4, 1, 2, 3, 7];
        var z = Exact32(Randn(42, N, v) * 1e4);
        var (lossRef, _, gradRef) = Reference(z, targets, v, v, 0f, 1.0);
        using var logits = Upload(z);
        using var dTargets = Upload(targets);
        using var losses = Poisoned(N);
        Cpu.CrossEntropy().ForwardBackward(logits.View, dTargets.View, N, v, v, 1f, 0f, losses.View, logits.View);
        Close(lossRef, Download(losses), 1e-2, 1e-6, "losses of logits ~1e4");
        Close(gradRef, Download(logits), 1e-6, 1e-5, "gradients of logits ~1e4");
    }

    [Fact]
    public void TanhMatchesMathTanhAcrossTheSeriesBoundary()
    {
        // The kernel's own tanh runs on the host here (same code as in the kernel).
        double worst = 0;
        for (float x = -12f; x <= 12f; x += 0.00137f)
        {
            double expected = Math.Tanh(x);
            double got = CrossEntropyKernelMethods.Tanh(x);
            worst = Math.Max(worst, Math.Abs(got - expected) / Math.Max(Math.Abs(expected), 1e-30));
        }
        Assert.True(worst < 5e-7, $"worst relative error {worst:G3}");
        Assert.Equal(1f, CrossEntropyKernelMethods.Tanh(float.PositiveInfinity));
        Assert.Equal(-1f, CrossEntropyKernelMethods.Tanh(-1e30f));
        Assert.True(float.IsNaN(CrossEntropyKernelMethods.Tanh(float.NaN)));
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        var ops = Cpu.CrossEntropy();
        using var logits = Poisoned(4 * 10);
        using var targets = Upload(new int[4]);
        using var losses = Poisoned(4);
        using var wrong = Poisoned(3);

        var e = Assert.Throws<ArgumentException>(() =>
            ops.ForwardBackward(logits.View, targets.View, 4, 8, 10, 0.25f, 0f, wrong.View, logits.View));
        Assert.Contains("CrossEntropy.ForwardBackward", e.Message);
        Assert.Contains("losses has 3 elements", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.ForwardBackward(logits.View, targets.View, 4, 8, 10, 0.25f, 0f, losses.View, wrong.View));
        Assert.Contains("dLogits", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(logits.View, targets.View, 4, 11, 10, 0f, losses.View));
        Assert.Contains("V <= Vp", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(logits.View, targets.View, 4, 8, 8, 0f, losses.View));
        Assert.Contains("logits has 40 elements but shape (N=4, Vp=8) needs 32", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(logits.View, targets.View, 4, 8, 10, -1f, losses.View));
        Assert.Contains("softcap", e.Message);
    }
}
