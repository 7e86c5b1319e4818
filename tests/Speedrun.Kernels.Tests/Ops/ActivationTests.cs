using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;
using Approximate = TorchSharp.Modules.GELU.Approximate;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// What the op specs (normal inputs at a few lengths) leave out: special inputs (±30, ±∞, NaN, ±0, the zero
/// of GELU's slope, tiny values) and every tail length 1..70 of the grid-stride loop, each operator forward and
/// backward against float64 libtorch, with NaN and ±∞ required exactly where libtorch gives them.
/// </summary>
public class ActivationTests
{
    // Extreme and special inputs first, so even short lengths cover some of them. -0.75179 is where GELU's
    // slope crosses zero; 0.25 is the edge of tanh's series.
    static readonly double[] Specials =
    [
        30, -30, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0, -0.75179, 10, -10, 5.5, -5.5,
        0.25, -0.25, 1e-4, -1e-4, 1e-30, 0.7, -0.7, 90, -90, -0.0,
    ];

    /// <summary>Every tail of a grid-stride loop over a few warps.</summary>
    static IEnumerable<int> Lengths => Enumerable.Range(1, 70);

    /// <summary>The longest input: the specials, then N(0, 3²) values (rounded to float32).</summary>
    static double[] Inputs(int n, bool positive)
    {
        var values = F64(Exact32(Randn(n, n) * 3));
        for (int i = 0; i < Math.Min(n, Specials.Length); i++) values[i] = (float)Specials[i]; // what the kernel sees
        return positive ? values.Select(v => double.IsNaN(v) ? v : Math.Abs(v)).ToArray() : values;
    }

    public static TheoryData<string> Operators() =>
        ["GeluErf", "GeluTanh", "Square", "Relu", "Tanh", "Sigmoid", "Exp", "Sqrt"];

    /// <summary>
    /// One operator: the torch expression, whether inputs are made non-negative (sqrt), and tolerances. The
    /// tolerances are the specs' (see OpSpecs.cs; measured there); away from the specials nothing here is new.
    /// </summary>
    static void Check(string name)
    {
        switch (name)
        {
            // GELU's slope x·φ(x) + Φ(x) crosses zero at x = -0.75 by cancellation (both terms ≈ 0.23).
            case "GeluErf": Run<GeluErf>(x => nn.functional.gelu(x, Approximate.none), false, 1e-9, 1e-6, 4e-7, 1e-6); break;
            case "GeluTanh": Run<GeluTanh>(x => nn.functional.gelu(x, Approximate.tanh), false, 1e-9, 1e-6, 4e-7, 1e-6); break;
            case "Square": Run<Square>(x => x.square(), false, 0, 6e-8, 0, 6e-8); break;
            // At x = NaN the backward passes dy through (it zeroes only where x <= 0), as libtorch does.
            case "Relu": Run<Relu>(x => nn.functional.relu(x), false, 0, 0, 0, 0); break;
            case "Tanh": Run<Tanh>(torch.tanh, false, 1e-7, 1e-6, 1e-6, 1e-6); break;
            case "Sigmoid": Run<Sigmoid>(torch.sigmoid, false, 1e-7, 1e-6, 1e-6, 1e-6); break;
            case "Exp": Run<Exp>(torch.exp, false, 0, 1e-6, 0, 1e-6); break;
            case "Sqrt": Run<Sqrt>(torch.sqrt, true, 0, 1.2e-7, 0, 1e-6); break;
            default: throw new ArgumentException(name);
        }
    }

    static void Run<TOp>(Func<Tensor, Tensor> reference, bool positive, double atolForward, double rtolForward,
        double atolBackward, double rtolBackward, double? gradAtNaN = null) where TOp : struct, IUnaryOp
    {
        var ops = Cpu.Activations();
        int longest = Lengths.Max();
        var all = Inputs(longest, positive);
        var allDy = F64(Exact32(Randn(1000, longest)));
        foreach (int n in Lengths)
        {
            var x = torch.tensor(all[..n]);
            var dy = torch.tensor(allDy[..n]);
            var (y, grads) = Backprop(t => reference(t[0]), dy, x);
            var expectedGrad = F64(grads[0]);
            for (int i = 0; i < n; i++)
                if (gradAtNaN is { } g && double.IsNaN(all[i])) expectedGrad[i] = g;
            using var dx = Upload(x);
            using var ddy = Upload(dy);
            using var dOut = Poisoned(n);
            using var dIn = Poisoned(n);
            ops.Forward<TOp>(dx.View, dOut.View);
            CloseWithSpecials(F64(y), Download(dOut), atolForward, rtolForward, $"{typeof(TOp).Name} forward, n={n}");
            ops.Backward<TOp>(dx.View, ddy.View, dIn.View);
            CloseWithSpecials(expectedGrad, Download(dIn), atolBackward, rtolBackward, $"{typeof(TOp).Name} backward, n={n}");
        }
    }

    /// <summary>
    /// <see cref="OpCheck.Close(double[], float[], double, double, string)"/> against the reference rounded to
    /// float32 (the best an fp32 kernel can return: 1e-30² is 0 there) where that is finite; NaN, ±∞ and values
    /// beyond float32's range (e^90) must come out exactly as NaN or as the infinity of the same sign.
    /// </summary>
    static void CloseWithSpecials(double[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var finite = new List<int>();
        for (int i = 0; i < expected.Length; i++)
        {
            float rounded = (float)expected[i];
            if (float.IsNaN(rounded))
                Assert.True(float.IsNaN(actual[i]), $"{what}: [{i}] expected NaN, got {actual[i]}");
            else if (float.IsInfinity(rounded))
                Assert.True(actual[i] == rounded, $"{what}: [{i}] expected {rounded} (from {expected[i]:G5}), got {actual[i]}");
            else finite.Add(i);
        }
        Close(finite.Select(i => (double)(float)expected[i]).ToArray(), finite.Select(i => actual[i]).ToArray(), atol, rtol, what + " (finite)");
    }

    [Theory, MemberData(nameof(Operators))]
    public void SpecialValuesAndEveryTailLengthMatchTorch(string op) => Check(op);

    [Fact]
    public void NamedGeluMethodsRunTheMatchingOperator()
    {
        const int n = 45;
        using var dx = Upload(torch.tensor(Inputs(n, positive: false)));
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
        Same(v => ops.GeluBackward(dx.View, dx.View, v, GeluForm.Erf), v => ops.Backward<GeluErf>(dx.View, dx.View, v),
            "GeluBackward Erf");
        Same(v => ops.GeluBackward(dx.View, dx.View, v, GeluForm.Tanh), v => ops.Backward<GeluTanh>(dx.View, dx.View, v),
            "GeluBackward Tanh");
        // The two forms differ (by up to ~1e-3 near |x| = 2), so the check above can tell them apart.
        ops.Gelu(dx.View, named.View, GeluForm.Erf);
        ops.Gelu(dx.View, generic.View, GeluForm.Tanh);
        Assert.False(Bits(Download(generic)).SequenceEqual(Bits(Download(named))));
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.Gelu(dx.View, named.View, (GeluForm)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.GeluBackward(dx.View, dx.View, named.View, (GeluForm)7));
    }

    [Fact]
    public void MismatchedLengthsThrowBeforeLaunch()
    {
        using var a = Poisoned(4);
        using var b = Poisoned(5);
        var e = Assert.Throws<ArgumentException>(() => Cpu.Activations().Forward<GeluTanh>(a.View, b.View));
        Assert.Contains("GeluTanh", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.Activations().Backward<Square>(a.View, a.View, b.View));
        Assert.Contains("Square backward", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.Activations().Backward<Sigmoid>(a.View, b.View, a.View));
        Assert.Contains("Sigmoid backward", e.Message);
        // Nothing was launched: the poisoned output is still all NaN.
        Assert.All(Download(b), v => Assert.True(float.IsNaN(v)));
    }
}
