using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The softmax spec checks F.Softmax on rows of N(0, 1). Left to these tests: rows whose range would overflow
/// exp without the max shift, -∞ entries (a mask) giving exact zeros, a row of only -∞ giving NaN as in torch,
/// and the shape checks.
/// </summary>
public class SoftmaxTests
{
    /// <summary>(N, C, lanes): lanes 1 is the CPU path; the warp size runs the CUDA-style shuffle path.</summary>
    public static TheoryData<int, int, bool> Shapes()
    {
        var shapes = new TheoryData<int, int, bool>();
        foreach (var (n, c) in new[] { (3, 5), (4, 37), (4, 1000) })
        {
            shapes.Add(n, c, false);
            shapes.Add(n, c, true);
        }
        return shapes;
    }

    // Forward: our exp is within ~1 ulp, then one multiplication by 1/(fp32 row sum of up to 1000 terms):
    // rtol 2e-6. Rounding x - max to fp32 costs |x - max|·2^-24 relative, up to 1e-5 for the ±80 row, but only
    // where the probability is below e^-14 ≈ 1e-6: atol 1e-9 covers those.
    // Backward: y·(dy - Σ y·dy) cancels inside the bracket: atol 1e-6, rtol 1e-5.
    [Theory, MemberData(nameof(Shapes))]
    public void WideRangesAndMinusInfinityEntries(int n, int c, bool warpLanes)
    {
        // Row 0 spans ±80 (e^80 overflows fp32); row 1 spans ±1e4; row 2 has -∞ in every third column (but not
        // all of them); the rest are O(1).
        var x = F64(Randn(n * 31 + c, n, c));
        var wide = F64(Uniform(5, -80, 80, c));
        var wider = F64(Uniform(6, -1e4, 1e4, c));
        for (int j = 0; j < c; j++)
        {
            x[j] = wide[j];
            x[c + j] = wider[j];
            if (j % 3 == 1) x[2 * c + j] = double.NegativeInfinity;
        }
        var input = Exact32(tensor(x).reshape(n, c));
        var dy = Exact32(Randn(17 + c, n, c));
        var (y, grads) = Backprop(t => softmax(t[0], -1), dy, input);

        using var dX = Upload(input);
        using var dDy = Upload(dy);
        using var dY = Poisoned(n * c);
        using var dDx = Poisoned(n * c);
        var ops = warpLanes ? new SoftmaxKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.Softmax();
        ops.Forward(dX.View, n, c, dY.View);
        var gotY = Download(dY);
        Close(y, gotY, 1e-9, 2e-6, $"Softmax y ({n}x{c})");
        ops.Backward(dY.View, dDy.View, n, c, dDx.View);
        var gotDx = Download(dDx);
        Close(grads[0], gotDx, 1e-6, 1e-5, $"Softmax dx ({n}x{c})");
        for (int j = 1; j < c; j += 3)
        {
            Assert.True(BitConverter.SingleToInt32Bits(gotY[2 * c + j]) == 0, $"y at a -inf entry is {gotY[2 * c + j]}");
            Assert.True(gotDx[2 * c + j] == 0f, $"dx at a -inf entry is {gotDx[2 * c + j]}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RowOfMinusInfinityIsNaNLikeTorch(bool warpLanes)
    {
        const int n = 2, c = 5;
        float[] x = [float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity,
            float.NegativeInfinity, 1, 2, 3, 4, 5];
        var expected = F64(softmax(tensor(x.Select(v => (double)v).ToArray()).reshape(n, c), -1));
        Assert.All(expected[..c], v => Assert.True(double.IsNaN(v)));
        using var dX = Upload(x);
        using var dY = Poisoned(n * c);
        var ops = warpLanes ? new SoftmaxKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.Softmax();
        ops.Forward(dX.View, n, c, dY.View);
        var got = Download(dY);
        Assert.All(got[..c], v => Assert.True(float.IsNaN(v)));
        Close(expected[c..], got[c..], 1e-9, 2e-6, "the finite row next to it");
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var x = Poisoned(12);
        using var y = Poisoned(10);
        var e = Assert.Throws<ArgumentException>(() => Cpu.Softmax().Forward(x.View, 3, 4, y.View));
        Assert.Contains("Softmax", e.Message);
        Assert.Contains("y has 10 elements", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.Softmax().Backward(x.View, x.View, 3, 4, y.View));
        Assert.Contains("Softmax backward", e.Message);
        Assert.All(Download(y), v => Assert.True(float.IsNaN(v)));
    }
}
