using ILGPU;
using ILGPU.Runtime;
using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// Properties of flash attention on the CPU device that the flex/sdpa op specs (y and the input gradients on normal
/// inputs) do not look at: the saved log-sum-exp, scores far beyond exp's range, masked scores never read, the
/// block lists, and the argument checks. The CUDA kernels' own tests are in FlashAttentionDeviceTests.
/// </summary>
public class FlashAttentionTests
{
    /// <summary>Builds a block mask on the CPU device and keeps its storage alive with it.</summary>
    sealed class Mask : IDisposable
    {
        public readonly MemoryBuffer1D<int, Stride1D.Dense> Storage;
        public readonly BlockSparsity Sparsity;

        public Mask(IMaskMod mask, int t, int blockSize)
        {
            int n = BlockSparsity.BlocksFor(t, blockSize);
            Storage = Cpu.Accelerator.Allocate1D<int>(BlockMaskKernels.StorageLength(n));
            Sparsity = mask switch
            {
                CausalMask c => Cpu.BlockMasks().FromElements(c, t, blockSize, Storage.View),
                FullMask f => Cpu.BlockMasks().FromElements(f, t, blockSize, Storage.View),
                _ => throw new ArgumentException(mask.GetType().Name),
            };
        }

        public void Dispose() => Storage.Dispose();
    }

    /// <summary>Float64 causal attention: y, the row log-sum-exp of the scaled scores, and dq, dk, dv for dy.</summary>
    static (Tensor Y, Tensor Lse, Tensor[] Grads) Reference(Tensor q, Tensor k, Tensor v, Tensor dy, double scale)
    {
        Tensor lse = null!;
        var (y, grads) = Backprop(p =>
        {
            var scores = p[0].matmul(p[1].transpose(-2, -1)) * scale;
            long t = scores.shape[^1];
            // The fill held alive through the call (see TorchOps.MaskedFill).
            using var fill = double.NegativeInfinity.ToScalar();
            scores = scores.masked_fill(ones(t, t, ScalarType.Bool).triu(1), fill);
            GC.KeepAlive(fill);
            lse = scores.logsumexp(-1).detach();
            return scores.softmax(-1).matmul(p[2]);
        }, dy, q, k, v);
        return (y, lse, grads);
    }

    /// <summary>More keys than one chunk (512) so the online softmax rescales across chunks, with 16-wide blocks.</summary>
    [Theory]
    [InlineData(600, 16, 8)]
    [InlineData(37, 16, 64)]
    [InlineData(1100, 128, 4)]
    public void SavesTheLogSumExpAndMatchesFloat64AcrossChunks(int t, int blockSize, int d)
    {
        const int B = 1, H = 2;
        const double scale = 0.4;
        var q = Exact32(Randn(21, B, H, t, d));
        var k = Exact32(Randn(22, B, H, t, d));
        var v = Exact32(Randn(23, B, H, t, d));
        var dyRef = Exact32(Randn(24, B, H, t, d));
        var (yRef, lseRef, gradsRef) = Reference(q, k, v, dyRef, scale);

        using var mask = new Mask(new CausalMask(), t, blockSize);
        using var dq = Upload(q);
        using var dk = Upload(k);
        using var dv = Upload(v);
        using var dy = Upload(dyRef);
        using var y = Poisoned(B * H * t * d);
        using var lse = Poisoned(B * H * t);
        using var gq = Poisoned(B * H * t * d);
        using var gk = Poisoned(B * H * t * d);
        using var gv = Poisoned(B * H * t * d);
        var ops = Cpu.FlashAttention();
        ops.Forward(dq.View, dk.View, dv.View, B, H, t, d, (float)scale, mask.Sparsity, new CausalMask(), y.View, lse.View);
        ops.Backward(dy.View, dq.View, dk.View, dv.View, y.View, lse.View, B, H, t, d, (float)scale, mask.Sparsity,
            new CausalMask(), gq.View, gk.View, gv.View);
        Close(lseRef, Download(lse), 1e-5, 1e-6, "lse");
        Close(yRef, Download(y), 5e-6, 1e-4, "y");
        Close(gradsRef[0], Download(gq), 5e-6, 1e-4, "dq");
        Close(gradsRef[1], Download(gk), 5e-6, 1e-4, "dk");
        Close(gradsRef[2], Download(gv), 5e-6, 1e-4, "dv");
    }

    [Fact]
    public void ScoresFarBeyondExpRangeStayFinite()
    {
        // Scores of a few hundred: a softmax without the running-max shift would overflow exp in fp32.
        const int B = 1, H = 2, T = 40, D = 4;
        const float scale = 0.5f;
        var q = Exact32(Randn(9, B, H, T, D) * 20);
        var k = Exact32(Randn(10, B, H, T, D) * 20);
        var v = Exact32(Randn(11, B, H, T, D));
        var dyRef = Exact32(Randn(12, B, H, T, D));
        var (yRef, _, gradsRef) = Reference(q, k, v, dyRef, scale);
        Assert.True(F64((q.matmul(k.transpose(-2, -1)) * scale).abs().max()).Single() > 300, "the case needs large scores");

        using var mask = new Mask(new CausalMask(), T, 16);
        using var dq = Upload(q);
        using var dk = Upload(k);
        using var dv = Upload(v);
        using var dy = Upload(dyRef);
        using var y = Poisoned(B * H * T * D);
        using var lse = Poisoned(B * H * T);
        using var gq = Poisoned(B * H * T * D);
        using var gk = Poisoned(B * H * T * D);
        using var gv = Poisoned(B * H * T * D);
        var ops = Cpu.FlashAttention();
        ops.Forward(dq.View, dk.View, dv.View, B, H, T, D, scale, mask.Sparsity, new CausalMask(), y.View, lse.View);
        ops.Backward(dy.View, dq.View, dk.View, dv.View, y.View, lse.View, B, H, T, D, scale, mask.Sparsity,
            new CausalMask(), gq.View, gk.View, gv.View);
        // Near-one-hot rows make the gradient a difference of nearly equal terms times scores of ~400.
        Close(yRef, Download(y), 1e-4, 1e-4, "y with large scores");
        Close(gradsRef[0], Download(gq), 2e-3, 1e-3, "dq with large scores");
        Close(gradsRef[1], Download(gk), 2e-3, 1e-3, "dk with large scores");
        Close(gradsRef[2], Download(gv), 2e-3, 1e-3, "dv with large scores");
    }

    /// <summary>
    /// Masked scores are never used: a NaN key at the last position makes that column of the scores NaN, but under
    /// the causal mask only the last query sees it, so every other row of y stays finite and right.
    /// </summary>
    [Fact]
    public void MaskedScoresAreNeverUsed()
    {
        const int B = 1, H = 2, T = 20, D = 4;
        var q = Exact32(Randn(4, B, H, T, D));
        var keys = F64(Exact32(Randn(5, B, H, T, D)));
        for (int head = 0; head < B * H; head++)
            for (int d = 0; d < D; d++) keys[(head * T + T - 1) * D + d] = double.NaN;
        var k = torch.tensor(keys).reshape(B, H, T, D);
        var v = Exact32(Randn(6, B, H, T, D));
        var (yRef, _, _) = Reference(q, k, v, zeros(B, H, T, D, ScalarType.Float64), 0.5);

        using var mask = new Mask(new CausalMask(), T, 16);
        using var dq = Upload(q);
        using var dk = Upload(k);
        using var dv = Upload(v);
        using var y = Poisoned(B * H * T * D);
        using var lse = Poisoned(B * H * T);
        Cpu.FlashAttention().Forward(dq.View, dk.View, dv.View, B, H, T, D, 0.5f, mask.Sparsity, new CausalMask(), y.View, lse.View);
        var gotY = Download(y);
        var expectedY = F64(yRef);
        for (int head = 0; head < B * H; head++)
        {
            int firstRow = head * T, lastRow = head * T + T - 1;
            Close(expectedY[(firstRow * D)..(lastRow * D)], gotY[(firstRow * D)..(lastRow * D)], 1e-6, 1e-5,
                $"y rows before the NaN key (head {head})");
            Assert.All(gotY[(lastRow * D)..((lastRow + 1) * D)], x => Assert.True(float.IsNaN(x)));
        }
    }

    /// <summary>The lists of a causal mask over 5 blocks of 16 (the last short): block i sees 0..i−1 fully and
    /// itself in part; key block j is seen fully by j+1..4 and in part by j.</summary>
    [Fact]
    public void CausalListsAreTheLowerTriangle()
    {
        using var mask = new Mask(new CausalMask(), 70, 16);
        var s = mask.Sparsity;
        int n = s.Blocks;
        Assert.Equal(5, n);
        int[] Ints(ArrayView<int> view) { var a = new int[view.Length]; view.CopyToCPU(a); return a; }
        int[] fullCount = Ints(s.FullCount), fullIndex = Ints(s.FullIndex), partialCount = Ints(s.PartialCount), partialIndex = Ints(s.PartialIndex);
        int[] fullQCount = Ints(s.FullQueryCount), fullQIndex = Ints(s.FullQueryIndex);
        int[] partialQCount = Ints(s.PartialQueryCount), partialQIndex = Ints(s.PartialQueryIndex);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(i, fullCount[i]);
            Assert.Equal(Enumerable.Range(0, i), fullIndex[(i * n)..(i * n + i)]);
            Assert.Equal(1, partialCount[i]);
            Assert.Equal(i, partialIndex[i * n]);
            Assert.Equal(n - 1 - i, fullQCount[i]);
            Assert.Equal(Enumerable.Range(i + 1, n - 1 - i), fullQIndex[(i * n)..(i * n + n - 1 - i)]);
            Assert.Equal(1, partialQCount[i]);
            Assert.Equal(i, partialQIndex[i * n]);
        }
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        var ops = Cpu.FlashAttention();
        const int B = 2, H = 2, T = 5, D = 4;
        using var mask = new Mask(new CausalMask(), T, 16);
        using var otherLength = new Mask(new CausalMask(), 6, 16);
        using var heads = Poisoned(B * H * T * D);
        using var lse = Poisoned(B * H * T);
        using var wrong = Poisoned(7);

        var e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(heads.View, heads.View, heads.View, B, H, T, D, 0.5f, mask.Sparsity, new CausalMask(), wrong.View, lse.View));
        Assert.Contains("FlashAttention.Forward: y has 7 elements", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(heads.View, heads.View, heads.View, B, H, T, D, 0.5f, mask.Sparsity, new CausalMask(), heads.View, wrong.View));
        Assert.Contains("lse has 7 elements but shape (B=2, H=2, T=5) needs 20", e.Message);

        e = Assert.Throws<ArgumentException>(() =>
            ops.Forward(heads.View, heads.View, heads.View, B, H, T, D, 0.5f, otherLength.Sparsity, new CausalMask(), heads.View, lse.View));
        Assert.Contains("the block mask covers 6 positions but the sequence has T=5", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Backward(heads.View, heads.View, heads.View, heads.View, heads.View,
            lse.View, B, H, T, D, 0.5f, mask.Sparsity, new CausalMask(), heads.View, wrong.View, heads.View));
        Assert.Contains("FlashAttention.Backward: dk has 7", e.Message);

        // Nothing ran: the outputs are still poisoned.
        Assert.All(Download(heads), x => Assert.True(float.IsNaN(x)));
        Assert.All(Download(lse), x => Assert.True(float.IsNaN(x)));
    }

    [Theory]
    [InlineData(0, 128, "sequence length must be at least 1")]
    [InlineData(64, 8, "blockSize must be a multiple of 16 from 16 to 256 (got 8)")]
    [InlineData(64, 100, "blockSize must be a multiple of 16")]
    [InlineData(64, 512, "blockSize must be a multiple of 16")]
    public void BadMaskSizesAreNamed(int length, int blockSize, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => BlockMaskKernels.CheckSizes("BlockMask.Create", length, blockSize));
        Assert.Contains("BlockMask.Create", e.Message);
        Assert.Contains(message, e.Message);
    }
}
