using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

public class AttentionTests
{
    // fp32 GEMMs over HS or T terms plus an exp per score, against float64: the worst error seen is 9e-7 for
    // O(1) values (HS = 64); 5e-6 absolute + 1e-4 relative leaves a margin without hiding a wrong mask or scale.
    const double Atol = 5e-6, Rtol = 1e-4;

    public static TheoryData<int, int, int, int> Cases()
    {
        var data = new TheoryData<int, int, int, int>();
        foreach (int b in new[] { 1, 2 })
        foreach (int t in new[] { 1, 5, 17 })
        foreach (int nh in new[] { 1, 3 })
        foreach (int hs in new[] { 4, 8, 64 })
            data.Add(b, t, nh, hs);
        return data;
    }

    /// <summary>Float64 causal attention on qkv (B, T, 3C): y, att, and dqkv for the upstream gradient dy.</summary>
    static (Tensor Y, Tensor Att, Tensor DQkv) Reference(Tensor qkv64, Tensor dy64, int b, int t, int nh, int hs,
        double scale)
    {
        using var scope = NewDisposeScope();
        int c = nh * hs;
        var qkv = qkv64.detach().clone().requires_grad_(true);
        var parts = qkv.split(c, 2);
        Tensor Heads(Tensor x) => x.reshape(b, t, nh, hs).transpose(1, 2);
        var q = Heads(parts[0]);
        var k = Heads(parts[1]);
        var v = Heads(parts[2]);
        var scores = q.matmul(k.transpose(-2, -1)) * scale;
        var mask = ones(t, t, ScalarType.Bool).triu(1);
        var att = scores.masked_fill(mask, double.NegativeInfinity).softmax(-1);
        var y = att.matmul(v).transpose(1, 2).reshape(b, t, c);
        (y * dy64).sum().backward();
        return (y.detach().MoveToOuterDisposeScope(), att.detach().MoveToOuterDisposeScope(),
            qkv.grad!.detach().clone().MoveToOuterDisposeScope());
    }

    [Theory, MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchTorch(int b, int t, int nh, int hs) =>
        CheckChain(Cpu.Attention(), b, t, nh, hs, seed: b * 1000 + t * 100 + nh * 10 + hs);

    /// <summary>The warp-cooperative row path CUDA takes (several lanes per row, shuffle reductions), run on the
    /// CPU accelerator with its 4-wide warps; T = 17 leaves lanes idle on the first rows.</summary>
    [Theory]
    [InlineData(1, 1, 1, 4)]
    [InlineData(2, 5, 3, 8)]
    [InlineData(2, 17, 3, 64)]
    public void MultiLaneRowsMatchTorch(int b, int t, int nh, int hs) =>
        CheckChain(new AttentionKernels(Cpu, Cpu.Accelerator.WarpSize), b, t, nh, hs, seed: 77 + t);

    static void CheckChain(AttentionKernels ops, int b, int t, int nh, int hs, int seed)
    {
        int c = nh * hs;
        var qkv = Exact32(Randn(seed, b, t, 3 * c));
        var dy = Exact32(Randn(seed + 1, b, t, c));
        double scale = 1.0 / Math.Sqrt(hs);
        var (yRef, attRef, dqkvRef) = Reference(qkv, dy, b, t, nh, hs, scale);

        using var dQkv = Upload(qkv);
        using var dDy = Upload(dy);
        using var y = Poisoned(b * t * c);
        using var dqkv = Poisoned(b * t * 3 * c);
        using (var state = ops.Forward(dQkv.View, b, t, nh, hs, y.View))
        {
            Close(yRef, Download(y), Atol, Rtol, $"attention y (B={b} T={t} NH={nh} HS={hs})");
            var att = Download(state.Att);
            Close(attRef, att, Atol, Rtol, "attention probabilities");
            for (int row = 0; row < b * nh * t; row++)
                for (int col = row % t + 1; col < t; col++)
                    Assert.True(att[row * t + col] == 0f, $"att[{row}, {col}] above the diagonal is {att[row * t + col]}");
            ops.Backward(state, dDy.View, dqkv.View);
        }
        Close(dqkvRef, Download(dqkv), Atol, Rtol, $"attention dqkv (B={b} T={t} NH={nh} HS={hs})");
    }

    /// <summary>The composable steps on their own, with a non-default scale (record 20 uses 0.12).</summary>
    [Fact]
    public void CoreStepsWithCustomScaleWriteEveryOutput()
    {
        const int b = 2, t = 9, nh = 3, hs = 8, c = nh * hs;
        const float scale = 0.12f;
        var qkv = Exact32(Randn(5, b, t, 3 * c) * 2);
        var dy = Exact32(Randn(6, b, t, c));
        var (yRef, attRef, dqkvRef) = Reference(qkv, dy, b, t, nh, hs, scale);
        var ops = Cpu.Attention();
        int heads = b * nh * t * hs;

        using var dQkv = Upload(qkv);
        using var dDy = Upload(dy);
        using var q = Poisoned(heads);
        using var k = Poisoned(heads);
        using var v = Poisoned(heads);
        using var att = Poisoned(b * nh * t * t);
        using var yHeads = Poisoned(heads);
        using var y = Poisoned(b * t * c);
        ops.SplitHeads(dQkv.View, b, t, nh, hs, q.View, k.View, v.View);
        ops.Core(q.View, k.View, v.View, b, nh, t, hs, scale, att.View, yHeads.View);
        ops.MergeHeads(yHeads.View, b, t, nh, hs, y.View);
        Close(attRef, Download(att), Atol, Rtol, "att (scale 0.12)");
        Close(yRef, Download(y), Atol, Rtol, "y (scale 0.12)");

        using var dyHeads = Poisoned(heads);
        using var dq = Poisoned(heads);
        using var dk = Poisoned(heads);
        using var dv = Poisoned(heads);
        using var dqkv = Poisoned(b * t * 3 * c);
        ops.SplitHeadGrads(dDy.View, b, t, nh, hs, dyHeads.View);
        ops.CoreBackward(dyHeads.View, q.View, k.View, v.View, att.View, b, nh, t, hs, scale, dq.View, dk.View, dv.View);
        ops.MergeHeadGrads(dq.View, dk.View, dv.View, b, t, nh, hs, dqkv.View);
        Close(dqkvRef, Download(dqkv), Atol, Rtol, "dqkv (scale 0.12)");
    }

    [Fact]
    public void LargeScoresDoNotOverflow()
    {
        // Scores around +-400: a softmax without the max shift would overflow exp in fp32.
        const int b = 1, t = 6, nh = 2, hs = 4, c = nh * hs;
        var qkv = Exact32(Randn(9, b, t, 3 * c) * 20);
        var dy = Exact32(Randn(10, b, t, c));
        var (yRef, _, dqkvRef) = Reference(qkv, dy, b, t, nh, hs, 0.5);
        using var dQkv = Upload(qkv);
        using var dDy = Upload(dy);
        using var y = Poisoned(b * t * c);
        using var dqkv = Poisoned(b * t * 3 * c);
        using (var state = Cpu.Attention().Forward(dQkv.View, b, t, nh, hs, y.View, scale: 0.5f))
        {
            Cpu.Attention().Backward(state, dDy.View, dqkv.View);
        }
        // Near-one-hot rows make the gradient a difference of nearly equal terms times scores of ~400.
        Close(yRef, Download(y), 1e-4, 1e-4, "y with large scores");
        Close(dqkvRef, Download(dqkv), 2e-3, 1e-3, "dqkv with large scores");
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        var ops = Cpu.Attention();
        using var qkv = Poisoned(2 * 5 * 3 * 8);
        using var y = Poisoned(2 * 5 * 8);
        using var heads = Poisoned(2 * 2 * 5 * 4);
        using var wrong = Poisoned(7);
        using var att = Poisoned(2 * 2 * 5 * 5);

        var e = Assert.Throws<ArgumentException>(() => ops.Forward(qkv.View, 2, 5, 2, 4, wrong.View));
        Assert.Contains("Attention.Forward", e.Message);
        Assert.Contains("y has 7 elements", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.SplitHeads(qkv.View, 2, 5, 2, 4, heads.View, wrong.View, heads.View));
        Assert.Contains("Attention.SplitHeads", e.Message);
        Assert.Contains("k has 7", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Core(heads.View, heads.View, heads.View, 2, 2, 5, 4, 0.5f, wrong.View, heads.View));
        Assert.Contains("Attention.Core", e.Message);
        Assert.Contains("att", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.CoreBackward(heads.View, heads.View, heads.View, wrong.View,
            att.View, 2, 2, 5, 4, 0.5f, heads.View, heads.View, heads.View));
        Assert.Contains("v has 7", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.MergeHeads(heads.View, 2, 5, 2, 4, wrong.View));
        Assert.Contains("Attention.MergeHeads", e.Message);
    }
}
