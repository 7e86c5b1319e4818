using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;
using Approximate = TorchSharp.Modules.GELU.Approximate;

namespace Speedrun.Kernels.Tests.Ops;

public class ActivationTests
{
    // Extreme and special inputs first, so even short lengths cover some of them.
    static readonly double[] Extremes = [30, -30, 10, -10, 0, -0.75179, 5.5, -5.5, 3.9, -3.9, 1e-4, -1e-4, 0.7, -0.7];

    /// <summary>Lengths 1..70 (every tail of a 4-, 8- or 32-wide loop) and one longer one.</summary>
    static IEnumerable<int> Lengths => Enumerable.Range(1, 70).Append(4099);

    static Tensor Inputs(int n, int seed)
    {
        var values = F64(Randn(seed, n) * 3);
        for (int i = 0; i < Math.Min(n, Extremes.Length); i++) values[i] = Extremes[i];
        return Exact32(torch.tensor(values));
    }

    /// <summary>
    /// Checks forward and backward of one operator against float64 libtorch, for every length.
    /// </summary>
    static void CheckAgainstTorch<TOp>(Func<Tensor, Tensor> reference, double atolForward, double rtolForward,
        double atolBackward, double rtolBackward) where TOp : struct, IActivation
    {
        var ops = Cpu.Activations();
        foreach (int n in Lengths)
        {
            var x = Inputs(n, seed: n);
            var dy = Exact32(Randn(1000 + n, n));
            var (y, grads) = Backprop(t => reference(t[0]), dy, x);
            using var dx = Upload(x);
            using var ddy = Upload(dy);
            using var dOut = Poisoned(n);
            using var dIn = Poisoned(n);
            ops.Forward<TOp>(dx.View, dOut.View);
            Close(y, Download(dOut), atolForward, rtolForward, $"{typeof(TOp).Name} forward, n={n}");
            ops.Backward<TOp>(dx.View, ddy.View, dIn.View);
            Close(grads[0], Download(dIn), atolBackward, rtolBackward, $"{typeof(TOp).Name} backward, n={n}");
        }
    }

    // GELU: our erf/exp are within a few ulps (rtol 1e-6 is about 8 ulps; 1-2 ulps seen). The backward
    // crosses zero at x = -0.75 by cancellation (Φ(x) + x·φ(x), both about 0.23, an ulp 1.5e-8), and
    // |dy| reaches ~4: atol 4e-7 (2.2e-7 seen).
    [Fact]
    public void GeluErfMatchesTorch() =>
        CheckAgainstTorch<GeluErf>(x => nn.functional.gelu(x, Approximate.none), 1e-9, 1e-6, 4e-7, 1e-6);

    [Fact]
    public void GeluTanhMatchesTorch() =>
        CheckAgainstTorch<GeluTanh>(x => nn.functional.gelu(x, Approximate.tanh), 1e-9, 1e-6, 4e-7, 1e-6);

    // relu(x)² and 2·relu(x)·dy are one rounding each from the exact value (2·r is exact): at most half an
    // ulp, i.e. 2^-24 ≈ 5.96e-8 relative.
    [Fact]
    public void ReluSquaredMatchesTorch() =>
        CheckAgainstTorch<ReluSquared>(x => nn.functional.relu(x).square(), 0, 6e-8, 0, 6e-8);

    [Fact]
    public void NamedMethodsRunTheMatchingOperator()
    {
        const int n = 45;
        var x = Inputs(n, seed: 9);
        using var dx = Upload(x);
        using var named = Poisoned(n);
        using var generic = Poisoned(n);
        var ops = Cpu.Activations();
        void Same(Action<ArrayView<float>> viaName, Action<ArrayView<float>> viaGeneric, string what)
        {
            viaName(named.View);
            viaGeneric(generic.View);
            Assert.True(Bits(Download(generic)).SequenceEqual(Bits(Download(named))), what);
        }
        Same(v => ops.Gelu(dx.View, v, GeluForm.Erf), v => ops.Forward<GeluErf>(dx.View, v), "Gelu Erf");
        Same(v => ops.Gelu(dx.View, v, GeluForm.Tanh), v => ops.Forward<GeluTanh>(dx.View, v), "Gelu Tanh");
        Same(v => ops.GeluBackward(dx.View, dx.View, v, GeluForm.Tanh), v => ops.Backward<GeluTanh>(dx.View, dx.View, v),
            "GeluBackward Tanh");
        Same(v => ops.ReluSquared(dx.View, v), v => ops.Forward<ReluSquared>(dx.View, v), "ReluSquared");
        Same(v => ops.ReluSquaredBackward(dx.View, dx.View, v), v => ops.Backward<ReluSquared>(dx.View, dx.View, v),
            "ReluSquaredBackward");
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.Gelu(dx.View, named.View, (GeluForm)7));
    }

    [Fact]
    public void MismatchedLengthsThrowBeforeLaunch()
    {
        using var a = Poisoned(4);
        using var b = Poisoned(5);
        var e = Assert.Throws<ArgumentException>(() => Cpu.Activations().Forward<GeluTanh>(a.View, b.View));
        Assert.Contains("GeluTanh", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.Activations().Backward<ReluSquared>(a.View, a.View, b.View));
        Assert.Contains("ReluSquared backward", e.Message);
    }
}

/// <summary>Our kernel erf, erfc and exp (plain C#, run here on the host) against float64 libtorch, in ulps.</summary>
public class KernelMathTests
{
    /// <summary>The largest error in units of the float32 spacing at the reference value.</summary>
    static (double Ulps, float At) WorstUlps(float[] inputs, Func<float, float> f, Func<Tensor, Tensor> reference)
    {
        var expected = F64(reference(torch.tensor(inputs).to_type(ScalarType.Float64)));
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

    [Fact]
    public void ErfIsWithinThreeUlps()
    {
        var (ulps, at) = WorstUlps(Grid(-6, 6, 200_001), KernelMath.Erf, torch.special.erf);
        Assert.True(ulps <= 3, $"erf: {ulps:F2} ulp at {at}");
        var tiny = Grid(-1e-3, 1e-3, 2001);
        (ulps, at) = WorstUlps(tiny, KernelMath.Erf, torch.special.erf);
        Assert.True(ulps <= 3, $"erf near 0: {ulps:F2} ulp at {at}");
    }

    [Fact]
    public void ErfcIsWithinFiveUlpsAboveMinusOne()
    {
        var (ulps, at) = WorstUlps(Grid(-1, 10, 200_001), KernelMath.Erfc, torch.special.erfc);
        Assert.True(ulps <= 5, $"erfc: {ulps:F2} ulp at {at}");
    }

    [Fact]
    public void ExpIsWithinTwoUlpsIncludingSubnormals()
    {
        var (ulps, at) = WorstUlps(Grid(-103, 88.7, 200_001), KernelMath.Exp, torch.exp);
        Assert.True(ulps <= 2, $"exp: {ulps:F2} ulp at {at}");
        Assert.Equal(0f, KernelMath.Exp(-200f));
        Assert.Equal(float.PositiveInfinity, KernelMath.Exp(100f));
        Assert.True(float.IsNaN(KernelMath.Exp(float.NaN)));
        Assert.Equal(1f, KernelMath.Exp(0f));
    }
}
