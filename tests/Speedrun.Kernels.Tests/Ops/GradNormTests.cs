using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

public class GradNormTests
{
    // Odd sizes, one above the 65536-partials threshold of the reduction.
    static readonly int[] Sizes = [1, 7, 33, 1000, 70001, 3];

    /// <summary>maxNorm 1 clips (the norm is ~270); 1e6 does not (scale exactly 1).</summary>
    [Theory]
    [InlineData(1.0)]
    [InlineData(1e6)]
    public void NormAndClipMatchClipGradNorm(double maxNorm)
    {
        var grads = Sizes.Select((n, i) => Exact32(Randn(100 + i, n))).ToArray();

        // PyTorch: gradients on float64 parameters, clipped in place; returns the total norm.
        var parameters = grads.Select(g => new TorchSharp.Modules.Parameter(zeros_like(g))).ToArray();
        for (int i = 0; i < grads.Length; i++) (parameters[i] * grads[i]).sum().backward();
        double normRef = nn.utils.clip_grad_norm_(parameters, maxNorm);

        var buffers = grads.Select(Upload).ToArray();
        try
        {
            using var norm = Poisoned(1);
            using var scale = Poisoned(1);
            var ops = Cpu.GradNorm();
            ops.GlobalNorm(buffers.Select(b => (ArrayView<float>)b.View).ToArray(), norm.View);
            ops.ClipScale(norm.View, (float)maxNorm, scale.View);

            // Per-tensor fp32 sums of squares (error ~1e-6 relative) then one sqrt: 2e-6 relative.
            float gotNorm = Download(norm)[0];
            Assert.True(Math.Abs(gotNorm - normRef) <= 2e-6 * normRef, $"norm {gotNorm} vs clip_grad_norm_ {normRef}");
            float gotScale = Download(scale)[0];
            if (maxNorm > normRef) Assert.Equal(1f, gotScale);

            for (int i = 0; i < grads.Length; i++)
            {
                var before = Download(buffers[i]);
                ops.Clip(buffers[i].View, scale.View);
                var after = Download(buffers[i]);
                // The scale inherits the norm's 2e-6 relative error.
                Close(parameters[i].grad!, after, 1e-9, 3e-6, $"clipped grad {i} (n={Sizes[i]})");
                // Each element is one multiplication by the scale (none at all when it is 1).
                Assert.Equal(TorchReference.Bits(before.Select(g => g * gotScale).ToArray()), TorchReference.Bits(after));
            }
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    [Fact]
    public void NormIsBitIdenticalAcrossRunsAndZeroForNoTensors()
    {
        var buffers = Sizes.Select((n, i) => Upload(Randn(7 + i, n) * 3)).ToArray();
        try
        {
            using var norm = Poisoned(1);
            var views = buffers.Select(b => (ArrayView<float>)b.View).ToArray();
            Cpu.GradNorm().GlobalNorm(views, norm.View);
            float first = Download(norm)[0];
            Cpu.GradNorm().GlobalNorm(views, norm.View);
            Assert.Equal(BitConverter.SingleToInt32Bits(first), BitConverter.SingleToInt32Bits(Download(norm)[0]));

            Cpu.GradNorm().GlobalNorm([], norm.View);
            Assert.Equal(0f, Download(norm)[0]);
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    [Fact]
    public void NonFiniteNormGivesNaNScaleLikeTorch()
    {
        using var norm = Upload([float.NaN]);
        using var scale = Poisoned(1);
        Cpu.GradNorm().ClipScale(norm.View, 1f, scale.View);
        Assert.True(float.IsNaN(Download(scale)[0]));
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var g = Poisoned(5);
        using var two = Poisoned(2);
        using var one = Poisoned(1);
        var e = Assert.Throws<ArgumentException>(() => Cpu.GradNorm().GlobalNorm([(ArrayView<float>)g.View], two.View));
        Assert.Contains("GradNorm.GlobalNorm", e.Message);
        Assert.Contains("norm has 2 elements", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.GradNorm().ClipScale(one.View, 1f, two.View));
        Assert.Contains("GradNorm.ClipScale", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.GradNorm().ClipScale(one.View, 0f, one.View));
        Assert.Contains("maxNorm", e.Message);
    }
}
