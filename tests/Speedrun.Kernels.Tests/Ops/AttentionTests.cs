using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// Kernel-level properties of attention that the sdpa specs (which compare y and the input gradients on normal
/// inputs) do not look at: the saved probabilities (masked entries exactly 0, never read), scores far beyond
/// exp's range, and the shape checks.
/// </summary>
public class AttentionTests
{
    /// <summary>Float64 attention on (B, NH, T, HS) heads: y, the probabilities, and dq, dk, dv for dy.</summary>
    static (Tensor Y, Tensor Att, Tensor[] Grads) Reference(Tensor q, Tensor k, Tensor v, Tensor dy, double scale,
        bool causal)
    {
        Tensor att = null!;
        var (y, grads) = Backprop(p =>
        {
            var scores = p[0].matmul(p[1].transpose(-2, -1)) * scale;
            long t = scores.shape[^1];
            if (causal) scores = scores.masked_fill(ones(t, t, ScalarType.Bool).triu(1), double.NegativeInfinity);
            att = scores.softmax(-1);
            return att.matmul(p[2]);
        }, dy, q, k, v);
        return (y, att.detach(), grads);
    }

    static AttentionKernels Kernels(bool warpLanes) =>
        warpLanes ? new AttentionKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.Attention();

    public static TheoryData<bool, bool> CausalAndLanes() => new() { { true, false }, { true, true }, { false, false }, { false, true } };

    // Probabilities: an exp per score and one division by an fp32 row sum of up to 17 terms (rtol 1e-5 leaves
    // a margin over the ~1e-6 seen); rows must sum to 1 within 17 roundings (1e-6).
    [Theory, MemberData(nameof(CausalAndLanes))]
    public void SavedProbabilitiesAreRowsOfOneWithMaskedEntriesExactlyZero(bool causal, bool warpLanes)
    {
        const int B = 2, NH = 3, T = 17, HS = 8;
        var q = Exact32(Randn(1, B, NH, T, HS));
        var k = Exact32(Randn(2, B, NH, T, HS));
        var v = Exact32(Randn(3, B, NH, T, HS));
        var (_, attRef, _) = Reference(q, k, v, zeros(B, NH, T, HS, ScalarType.Float64), 0.3, causal);

        using var dq = Upload(q);
        using var dk = Upload(k);
        using var dv = Upload(v);
        using var att = Poisoned(B * NH * T * T);
        using var y = Poisoned(B * NH * T * HS);
        Kernels(warpLanes).Forward(dq.View, dk.View, dv.View, B, NH, T, HS, 0.3f, causal, att.View, y.View);
        var got = Download(att);
        Close(attRef, got, 1e-7, 1e-5, $"probabilities (causal={causal})");
        for (int row = 0; row < B * NH * T; row++)
        {
            double sum = 0;
            for (int col = 0; col < T; col++)
            {
                float p = got[row * T + col];
                if (causal && col > row % T) Assert.True(p == 0f && !float.IsNegative(p), $"masked att[{row}, {col}] is {p}");
                else Assert.True(p > 0f, $"visible att[{row}, {col}] is {p}");
                sum += p;
            }
            Assert.True(Math.Abs(sum - 1) <= 1e-6, $"row {row} sums to {sum:G9}");
        }
    }

    /// <summary>
    /// Masked scores are never read: a NaN key at the last position makes every score in the last column NaN,
    /// but with the causal mask only the last query sees that column, so every other row of the probabilities
    /// and of y stays finite and equal to the reference (whose masked_fill discards the NaN).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaskedScoresAreNeverRead(bool warpLanes)
    {
        const int B = 1, NH = 2, T = 9, HS = 4;
        var q = Exact32(Randn(4, B, NH, T, HS));
        var keys = F64(Exact32(Randn(5, B, NH, T, HS)));
        for (int head = 0; head < B * NH; head++)
            for (int d = 0; d < HS; d++) keys[(head * T + T - 1) * HS + d] = double.NaN;
        var k = torch.tensor(keys).reshape(B, NH, T, HS);
        var v = Exact32(Randn(6, B, NH, T, HS));
        var (yRef, attRef, _) = Reference(q, k, v, zeros(B, NH, T, HS, ScalarType.Float64), 0.5, causal: true);

        using var dq = Upload(q);
        using var dk = Upload(k);
        using var dv = Upload(v);
        using var att = Poisoned(B * NH * T * T);
        using var y = Poisoned(B * NH * T * HS);
        Kernels(warpLanes).Forward(dq.View, dk.View, dv.View, B, NH, T, HS, 0.5f, true, att.View, y.View);
        var gotAtt = Download(att);
        var gotY = Download(y);
        var expectedAtt = F64(attRef);
        var expectedY = F64(yRef);
        for (int head = 0; head < B * NH; head++)
        {
            // Rows 0..T-2 of each head: finite and right; row T-1 (which sees the NaN key) is NaN, as in torch.
            int firstRow = head * T, lastRow = head * T + T - 1;
            Close(expectedAtt[(firstRow * T)..(lastRow * T)], gotAtt[(firstRow * T)..(lastRow * T)], 1e-7, 1e-5,
                $"att rows before the NaN key (head {head})");
            Close(expectedY[(firstRow * HS)..(lastRow * HS)], gotY[(firstRow * HS)..(lastRow * HS)], 1e-6, 1e-5,
                $"y rows before the NaN key (head {head})");
            Assert.All(gotY[(lastRow * HS)..((lastRow + 1) * HS)], x => Assert.True(float.IsNaN(x)));
        }
    }

    [Fact]
    public void ScoresFarBeyondExpRangeStayFinite()
    {
        // Scores of a few hundred: a softmax without the max shift would overflow exp in fp32.
        const int B = 1, NH = 2, T = 6, HS = 4;
        const float scale = 0.5f;
        var q = Exact32(Randn(9, B, NH, T, HS) * 20);
        var k = Exact32(Randn(10, B, NH, T, HS) * 20);
        var v = Exact32(Randn(11, B, NH, T, HS));
        var dyRef = Exact32(Randn(12, B, NH, T, HS));
        var (yRef, _, gradsRef) = Reference(q, k, v, dyRef, scale, causal: true);
        Assert.True(F64((q.matmul(k.transpose(-2, -1)) * scale).abs().max()).Single() > 300, "the case needs large scores");

        using var dq = Upload(q);
        using var dk = Upload(k);
        using var dv = Upload(v);
        using var dy = Upload(dyRef);
        using var att = Poisoned(B * NH * T * T);
        using var y = Poisoned(B * NH * T * HS);
        using var gq = Poisoned(B * NH * T * HS);
        using var gk = Poisoned(B * NH * T * HS);
        using var gv = Poisoned(B * NH * T * HS);
        var ops = Cpu.Attention();
        ops.Forward(dq.View, dk.View, dv.View, B, NH, T, HS, scale, true, att.View, y.View);
        ops.Backward(dy.View, dq.View, dk.View, dv.View, att.View, B, NH, T, HS, scale, true, gq.View, gk.View, gv.View);
        // Near-one-hot rows make the gradient a difference of nearly equal terms times scores of ~400.
        Close(yRef, Download(y), 1e-4, 1e-4, "y with large scores");
        Close(gradsRef[0], Download(gq), 2e-3, 1e-3, "dq with large scores");
        Close(gradsRef[1], Download(gk), 2e-3, 1e-3, "dk with large scores");
        Close(gradsRef[2], Download(gv), 2e-3, 1e-3, "dv with large scores");
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        var ops = Cpu.Attention();
        const int B = 2, NH = 2, T = 5, HS = 4;
        using var heads = Poisoned(B * NH * T * HS);
        using var att = Poisoned(B * NH * T * T);
        using var wrong = Poisoned(7);

        var e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(heads.View, heads.View, heads.View, B, NH, T, HS, 0.5f, true, att.View, wrong.View));
        Assert.Contains("Attention.Forward", e.Message);
        Assert.Contains("y has 7 elements", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(heads.View, wrong.View, heads.View, B, NH, T, HS, 0.5f, true, att.View, heads.View));
        Assert.Contains("k has 7 elements", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(heads.View, heads.View, heads.View, B, NH, T, HS, 0.5f, false, wrong.View, heads.View));
        Assert.Contains("att has 7 elements but shape (B=2, NH=2, T=5, T=5) needs 100", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Backward(heads.View, heads.View, heads.View, wrong.View,
            att.View, B, NH, T, HS, 0.5f, true, heads.View, heads.View, heads.View));
        Assert.Contains("Attention.Backward", e.Message);
        Assert.Contains("v has 7", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Backward(heads.View, heads.View, heads.View, heads.View,
            att.View, B, NH, T, HS, 0.5f, true, heads.View, wrong.View, heads.View));
        Assert.Contains("dk has 7", e.Message);

        // Nothing ran: the outputs are still poisoned.
        Assert.All(Download(att), x => Assert.True(float.IsNaN(x)));
        Assert.All(Download(heads), x => Assert.True(float.IsNaN(x)));
    }
}
