using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// Kernel-level properties of the fused cross-entropy that the cross_entropy specs (valid targets, finite
/// logits, a fresh gradient buffer) do not reach: ignored rows, NaN in the padding columns, the gradient
/// written over the logits, the loss-only kernel agreeing bit for bit, logits of ±1e4, NaN logits.
/// </summary>
public class CrossEntropyTests
{
    // The specs' tolerances (OpSpecs.cs): one logsumexp per row, probabilities times dLossScale.
    const double LossAtol = 1e-6, LossRtol = 2e-6, GradAtol = 1e-8, GradRtol = 2e-5;
    const int N = 7;

    static CrossEntropyKernels Kernels(bool warpLanes) =>
        warpLanes ? new CrossEntropyKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.CrossEntropy();

    static bool Ignored(int target, int v) => target < 0 || target >= v;

    /// <summary>Float64 losses (reduction none) and the gradient of dLossScale · Σ losses, padded to Vp with zero
    /// columns; ignored rows (negative or ≥ V targets) have loss 0 and gradient 0.</summary>
    static (Tensor Losses, Tensor Grad) Reference(Tensor z64, int[] targets, int v, int vp, double dLossScale)
    {
        using var scope = NewDisposeScope();
        var z = z64.detach().clone().requires_grad_(true);
        var t = tensor(targets.Select(x => Ignored(x, v) ? -1L : x).ToArray());
        var losses = nn.functional.cross_entropy(z, t, ignore_index: -1, reduction: nn.Reduction.None);
        (losses * dLossScale).sum().backward();
        var grad = nn.functional.pad(z.grad!, [0, vp - v]);
        return (losses.detach().MoveToOuterDisposeScope(), grad.detach().MoveToOuterDisposeScope());
    }

    /// <summary>Logits of shape (N, V) laid out N × Vp, the padding columns holding <paramref name="padding"/>.</summary>
    static float[] Padded(Tensor z, int v, int vp, float padding)
    {
        var host = new float[N * vp];
        Array.Fill(host, padding);
        var zf = F32(z);
        for (int r = 0; r < N; r++) Array.Copy(zf, r * v, host, r * vp, v);
        return host;
    }

    public static TheoryData<int, int, bool, bool> PaddedCases()
    {
        var data = new TheoryData<int, int, bool, bool>();
        foreach (var (v, vp) in new[] { (5, 8), (97, 100), (1000, 1000) })
            foreach (bool inPlace in new[] { false, true })
                foreach (bool warpLanes in new[] { false, true })
                    data.Add(v, vp, inPlace, warpLanes);
        return data;
    }

    /// <summary>
    /// Rows with target -1 (ignore_index) and target V (not a class) get loss 0 and a gradient row of exact zeros;
    /// padding columns full of NaN are never read and come back as exact zeros; with dLogits = logits each lane
    /// reads its columns before overwriting them; the loss-only kernel gives the same bits as the fused one.
    /// </summary>
    [Theory, MemberData(nameof(PaddedCases))]
    public void IgnoredRowsAndNaNPaddingGiveExactZeros(int v, int vp, bool inPlace, bool warpLanes)
    {
        var rng = new Random(v + vp);
        int[] targets = Enumerable.Range(0, N).Select(_ => rng.Next(v)).ToArray();
        targets[0] = v - 1;
        targets[2] = -1;
        targets[5] = v;
        double dLossScale = 1.0 / targets.Count(t => !Ignored(t, v));
        var z = Exact32(Randn(v, N, v) * 3);
        var (lossRef, gradRef) = Reference(z, targets, v, vp, dLossScale);

        using var logits = Upload(Padded(z, v, vp, float.NaN));
        using var dTargets = Upload(targets);
        using var losses = Poisoned(N);
        using var forwardLosses = Poisoned(N);
        using var separate = inPlace ? null : Poisoned(N * vp);
        var dLogits = inPlace ? logits.View : separate!.View;
        var ops = Kernels(warpLanes);
        ops.Forward(logits.View, dTargets.View, N, v, vp, forwardLosses.View);
        ops.ForwardBackward(logits.View, dTargets.View, N, v, vp, (float)dLossScale, losses.View, dLogits);

        string what = $"V={v} Vp={vp} inPlace={inPlace} warpLanes={warpLanes}";
        var got = Download(losses);
        Close(lossRef, got, LossAtol, LossRtol, $"losses {what}");
        Assert.Equal(0f, got[2]);
        Assert.Equal(0f, got[5]);
        Assert.Equal(Bits(got), Bits(Download(forwardLosses)));
        var grad = Download(dLogits);
        Close(gradRef, grad, GradAtol, GradRtol, $"dLogits {what}");
        for (int r = 0; r < N; r++)
            for (int j = 0; j < vp; j++)
                if (Ignored(targets[r], v) || j >= v)
                    Assert.True(BitConverter.SingleToInt32Bits(grad[r * vp + j]) == 0, $"dLogits[{r}, {j}] is {grad[r * vp + j]}, not +0");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ExtremeLogitsStayFinite(bool warpLanes)
    {
        // Logits of ±1e4: the online max shift keeps exp in range; losses are 0 or ~2e4.
        const int v = 9;
        int[] targets = [0, 8, 4, 1, 2, 3, 7];
        var z = Exact32(Randn(42, N, v) * 1e4);
        var (lossRef, gradRef) = Reference(z, targets, v, v, 1.0);
        using var logits = Upload(z);
        using var dTargets = Upload(targets);
        using var losses = Poisoned(N);
        Kernels(warpLanes).ForwardBackward(logits.View, dTargets.View, N, v, v, 1f, losses.View, logits.View);
        // A loss of ~2e4 is a difference of logits ~1e4, each exact in fp32, plus log of a sum near 1.
        Close(lossRef, Download(losses), 1e-2, 1e-6, "losses of logits ~1e4");
        Close(gradRef, Download(logits), 1e-6, 1e-5, "gradients of logits ~1e4");
    }

    /// <summary>A NaN logit among the classes poisons its own row's loss and gradient (the run is then reported
    /// as diverged) and no other row.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NaNLogitPoisonsOnlyItsRow(bool warpLanes)
    {
        const int v = 11;
        int[] targets = [3, 0, 10, 5, 7, 1, 2];
        var z = Exact32(Randn(8, N, v) * 3);
        var (lossRef, gradRef) = Reference(z, targets, v, v, 1.0);
        var host = F32(z);
        host[4 * v + 6] = float.NaN; // row 4, not its target column (7)
        using var logits = Upload(host);
        using var dTargets = Upload(targets);
        using var losses = Poisoned(N);
        using var dLogits = Poisoned(N * v);
        Kernels(warpLanes).ForwardBackward(logits.View, dTargets.View, N, v, v, 1f, losses.View, dLogits.View);
        var got = Download(losses);
        var grad = Download(dLogits);
        Assert.True(float.IsNaN(got[4]), $"row 4's loss is {got[4]}");
        Assert.All(grad[(4 * v)..(5 * v)], g => Assert.True(float.IsNaN(g)));
        var others = Enumerable.Range(0, N).Where(r => r != 4).ToArray();
        var expectedLoss = F64(lossRef);
        var expectedGrad = F64(gradRef);
        Close(others.Select(r => expectedLoss[r]).ToArray(), others.Select(r => got[r]).ToArray(), LossAtol, LossRtol, "other rows' losses");
        Close(others.SelectMany(r => expectedGrad[(r * v)..((r + 1) * v)]).ToArray(),
            others.SelectMany(r => grad[(r * v)..((r + 1) * v)]).ToArray(), GradAtol, GradRtol, "other rows' gradients");
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
            ops.ForwardBackward(logits.View, targets.View, 4, 8, 10, 0.25f, wrong.View, logits.View));
        Assert.Contains("CrossEntropy.ForwardBackward", e.Message);
        Assert.Contains("losses has 3 elements", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.ForwardBackward(logits.View, targets.View, 4, 8, 10, 0.25f, losses.View, wrong.View));
        Assert.Contains("dLogits", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Forward(logits.View, targets.View, 4, 11, 10, losses.View));
        Assert.Contains("V <= Vp", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Forward(logits.View, targets.View, 4, 0, 10, losses.View));
        Assert.Contains("V <= Vp", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Forward(logits.View, targets.View, 4, 8, 8, losses.View));
        Assert.Contains("logits has 40 elements but shape (N=4, Vp=8) needs 32", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Forward(logits.View, targets.View, 3, 8, 10, wrong.View));
        Assert.Contains("logits has 40 elements", e.Message);

        Assert.All(Download(losses), x => Assert.True(float.IsNaN(x)));
        Assert.All(Download(logits), x => Assert.True(float.IsNaN(x)));
    }
}
