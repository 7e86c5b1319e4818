using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// Our kernel functions (plain C#, run here on the host, which computes what the CPU accelerator computes)
/// against float64 libtorch, in ulps: the error divided by the float32 spacing at the reference value.
/// Each bound is a little above the worst error measured on the test's grid, which its comment states.
/// </summary>
public class KernelMathTests
{
    /// <summary>The largest error in units of the float32 spacing at the reference value, and where.</summary>
    /// <remarks>The scope holds every tensor made here until the reference is read. A temporary passed straight to a
    /// native op is dead to the optimising JIT once its handle is read; a GC from a test running beside this one can
    /// then run its finalizer and free its storage mid-op. A clean-clone CI (2026-12-01) read sigmoid(-20) as 0.5,
    /// i.e. sigmoid of a freed-and-zeroed input, that way ("8388607.97 ulp at -20").</remarks>
    static (double Ulps, float At) WorstUlps(float[] inputs, Func<float, float> f, Func<Tensor, Tensor> reference)
    {
        using var scope = torch.NewDisposeScope();
        var input = torch.tensor(inputs).to_type(ScalarType.Float64);
        var expected = F64(reference(input));
        GC.KeepAlive(input);
        double worst = 0;
        float at = float.NaN;
        for (int i = 0; i < inputs.Length; i++)
        {
            double r = expected[i];
            double spacing = r == 0 ? Math.Pow(2, -149) : Math.Max(Math.Pow(2, Math.Floor(Math.Log2(Math.Abs(r))) - 23), Math.Pow(2, -149));
            double ulps = Math.Abs(f(inputs[i]) - r) / spacing;
            if (!(ulps <= worst)) { worst = ulps; at = inputs[i]; }
        }
        return (worst, at);
    }

    static float[] Grid(double lo, double hi, int n) =>
        Enumerable.Range(0, n).Select(i => (float)(lo + (hi - lo) * i / (n - 1))).ToArray();

    /// <summary>The float32 values on both sides of <paramref name="x"/>, <paramref name="count"/> each way.</summary>
    static float[] Neighbours(float x, int count) =>
        Enumerable.Range(-count, 2 * count + 1).Select(k => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(x) + k)).ToArray();

    // WorstUlps with another thread collecting and running finalizers without pause. Before its dispose scope, the
    // same loop crashed the test host (SIGSEGV: libtorch reading a tensor its finalizer had freed).
    [Fact]
    public void TheReferenceSurvivesCollectionsDuringItsNativeOps()
    {
        var grid = Grid(-20, 20, 200_001);
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); }
        }) { IsBackground = true };
        collector.Start();
        try
        {
            for (int i = 0; i < 30; i++)
            {
                var (ulps, at) = WorstUlps(grid, KernelMath.Sigmoid, torch.sigmoid);
                Assert.True(ulps <= 3, $"round {i}: sigmoid {ulps:F2} ulp at {at}");
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }

    // Measured: 2.36 ulp on [-6, 6] (at -0.46, inside the series), 2.11 ulp on [-1e-3, 1e-3].
    [Fact]
    public void ErfIsWithinThreeUlps()
    {
        var (ulps, at) = WorstUlps(Grid(-6, 6, 200_001), KernelMath.Erf, torch.special.erf);
        Assert.True(ulps <= 3, $"erf: {ulps:F2} ulp at {at}");
        (ulps, at) = WorstUlps(Grid(-1e-3, 1e-3, 2001), KernelMath.Erf, torch.special.erf);
        Assert.True(ulps <= 3, $"erf near 0: {ulps:F2} ulp at {at}");
    }

    // Measured: 4.84 ulp on [-1, 10] (below -1 erfc is 2 - erfc(|z|), right to an ulp of 2).
    [Fact]
    public void ErfcIsWithinFiveUlpsAboveMinusOne()
    {
        var (ulps, at) = WorstUlps(Grid(-1, 10, 200_001), KernelMath.Erfc, torch.special.erfc);
        Assert.True(ulps <= 5, $"erfc: {ulps:F2} ulp at {at}");
    }

    // Measured: 1.16 ulp on [-103, 88.7], subnormal results included.
    [Fact]
    public void ExpIsWithinTwoUlpsIncludingSubnormals()
    {
        var (ulps, at) = WorstUlps(Grid(-103, 88.7, 200_001), KernelMath.Exp, torch.exp);
        Assert.True(ulps <= 2, $"exp: {ulps:F2} ulp at {at}");
        Assert.Equal(0f, KernelMath.Exp(-200f));
        Assert.Equal(0f, KernelMath.Exp(float.NegativeInfinity));
        Assert.Equal(float.PositiveInfinity, KernelMath.Exp(100f));
        Assert.Equal(float.PositiveInfinity, KernelMath.Exp(float.PositiveInfinity));
        Assert.True(float.IsNaN(KernelMath.Exp(float.NaN)));
        Assert.Equal(1f, KernelMath.Exp(0f));
    }

    // Measured: 2.11 ulp on [-10, 10] (beyond |x| ≈ 9.0 tanh rounds to ±1), 2.34 ulp on [-1, 1],
    // 0.85 ulp on [-1e-3, 1e-3], and 2.62 ulp on the 2·2000 floats either side of the series boundary |x| = 0.25
    // (just above it, where 1 - e^(-2|x|) loses a bit to cancellation).
    [Fact]
    public void TanhIsWithinThreeUlpsAndSaturatesToOne()
    {
        var (ulps, at) = WorstUlps(Grid(-10, 10, 200_001), KernelMath.Tanh, torch.tanh);
        Assert.True(ulps <= 3, $"tanh: {ulps:F2} ulp at {at}");
        (ulps, at) = WorstUlps(Grid(-1, 1, 200_001), KernelMath.Tanh, torch.tanh);
        Assert.True(ulps <= 3, $"tanh on [-1, 1]: {ulps:F2} ulp at {at}");
        (ulps, at) = WorstUlps(Grid(-1e-3, 1e-3, 2001), KernelMath.Tanh, torch.tanh);
        Assert.True(ulps <= 3, $"tanh near 0: {ulps:F2} ulp at {at}");
        (ulps, at) = WorstUlps([.. Neighbours(0.25f, 2000), .. Neighbours(-0.25f, 2000)], KernelMath.Tanh, torch.tanh);
        Assert.True(ulps <= 3, $"tanh at the series boundary: {ulps:F2} ulp at {at}");

        Assert.Equal(1f, KernelMath.Tanh(float.PositiveInfinity));
        Assert.Equal(-1f, KernelMath.Tanh(float.NegativeInfinity));
        Assert.Equal(-1f, KernelMath.Tanh(-1e30f));
        Assert.True(float.IsNaN(KernelMath.Tanh(float.NaN)));
        Assert.Equal(0f, KernelMath.Tanh(0f));
        Assert.Equal(1e-30f, KernelMath.Tanh(1e-30f));
    }

    // Measured: 2.00 ulp on [-103, 30] (subnormal results below x = -87.3 included: 0.78 ulp on [-103, -87];
    // beyond x ≈ 17.3, σ rounds to 1), 2.25 ulp on [-20, 20], 1.22 ulp on [-1e-3, 1e-3].
    [Fact]
    public void SigmoidIsWithinThreeUlpsIncludingSubnormals()
    {
        var (ulps, at) = WorstUlps(Grid(-103, 30, 200_001), KernelMath.Sigmoid, torch.sigmoid);
        Assert.True(ulps <= 3, $"sigmoid: {ulps:F2} ulp at {at}");
        (ulps, at) = WorstUlps(Grid(-20, 20, 200_001), KernelMath.Sigmoid, torch.sigmoid);
        Assert.True(ulps <= 3, $"sigmoid on [-20, 20]: {ulps:F2} ulp at {at}");
        (ulps, at) = WorstUlps(Grid(-1e-3, 1e-3, 2001), KernelMath.Sigmoid, torch.sigmoid);
        Assert.True(ulps <= 3, $"sigmoid near 0: {ulps:F2} ulp at {at}");

        Assert.Equal(1f, KernelMath.Sigmoid(float.PositiveInfinity));
        Assert.Equal(0f, KernelMath.Sigmoid(float.NegativeInfinity));
        Assert.Equal(0f, KernelMath.Sigmoid(-200f));
        Assert.Equal(0.5f, KernelMath.Sigmoid(0f));
        Assert.True(float.IsNaN(KernelMath.Sigmoid(float.NaN)));
    }
}
