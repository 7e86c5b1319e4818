using Speedrun.Kernels.Ops;
using TorchSharp;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The add/sub/mul/div/affine specs check every broadcasting form through F.*, into fresh outputs. Left to these
/// tests: z written over one of its operands (the engine's in-place updates and its cross-entropy backward do
/// that), Lerp (no spec: it is an in-place method), and the length checks. Each element is one IEEE operation
/// (two or three for Affine, Lerp and the division's gradient), so the reference is the same fp32 expression
/// evaluated here, and results must match it bit for bit.
/// </summary>
public class ArithmeticTests
{
    public static TheoryData<string> Operators() => ["Add", "Sub", "Mul", "Div", "DivGradDenominator"];

    /// <summary>(n, m): the full length and the broadcast operand's length (m divides n; m = 1 is a scalar).</summary>
    static readonly (int N, int M)[] Lengths = [(1, 1), (6, 3), (35, 7), (70, 1), (70, 70), (4095, 5)];

    static void Check(string op)
    {
        switch (op)
        {
            case "Add": Aliasing<AddOp>((a, b) => a + b); break;
            case "Sub": Aliasing<SubOp>((a, b) => a - b); break;
            case "Mul": Aliasing<MulOp>((a, b) => a * b); break;
            case "Div": Aliasing<DivOp>((a, b) => a / b); break;
            case "DivGradDenominator": Aliasing<DivGradDenominatorOp>((n, c) => -n / (c * c)); break;
            default: throw new ArgumentException(op);
        }
    }

    /// <summary>
    /// For each length pair: z = a (same length), z = b (same length), z = a with b broadcast, z = b with a
    /// broadcast; each against op applied here to the original values.
    /// </summary>
    static void Aliasing<TOp>(Func<float, float, float> f) where TOp : struct, IBinaryOp
    {
        var ops = Cpu.Arithmetic();
        foreach (var (n, m) in Lengths)
        {
            var big = F32(Randn(n, n) * 3);
            var other = F32(Randn(n + 1, n) * 3);
            var small = F32(Randn(m + 2, m) * 3 + 4); // away from 0: divisors
            float[] Expected(Func<int, float> a, Func<int, float> b) =>
                Enumerable.Range(0, n).Select(i => f(a(i), b(i))).ToArray();
            string what = $"{typeof(TOp).Name} n={n} m={m}";

            using (var a = Upload(big))
            using (var b = Upload(other))
            {
                ops.Apply<TOp>(a.View, b.View, a.View);
                Assert.True(Bits(Expected(i => big[i], i => other[i])).SequenceEqual(Bits(Download(a))), $"{what}: z = a");
            }
            using (var a = Upload(big))
            using (var b = Upload(other))
            {
                ops.Apply<TOp>(a.View, b.View, b.View);
                Assert.True(Bits(Expected(i => big[i], i => other[i])).SequenceEqual(Bits(Download(b))), $"{what}: z = b");
            }
            using (var a = Upload(big))
            using (var b = Upload(small))
            {
                ops.Apply<TOp>(a.View, b.View, a.View);
                Assert.True(Bits(Expected(i => big[i], i => small[i % m])).SequenceEqual(Bits(Download(a))),
                    $"{what}: z = a, b broadcast");
            }
            using (var a = Upload(small))
            using (var b = Upload(big))
            {
                ops.Apply<TOp>(a.View, b.View, b.View);
                Assert.True(Bits(Expected(i => small[i % m], i => big[i])).SequenceEqual(Bits(Download(b))),
                    $"{what}: z = b, a broadcast");
            }
        }
    }

    [Theory, MemberData(nameof(Operators))]
    public void OutputOverAnOperandGivesTheSameBitsAsAFreshOne(string op) => Check(op);

    [Fact]
    public void AffineInPlace()
    {
        foreach (int n in new[] { 1, 33, 4099 })
        {
            var x = F32(Randn(n, n) * 3);
            using var buffer = Upload(x);
            Cpu.Arithmetic().Affine(buffer.View, -2.5f, 0.75f, buffer.View);
            Assert.Equal(Bits(x.Select(v => -2.5f * v + 0.75f).ToArray()), Bits(Download(buffer)));
        }
    }

    /// <summary>
    /// a += w·(b - a), element by element as written (three roundings), and within those roundings of float64
    /// torch.lerp: |error| ≤ 2^-22·(|a| + |b|).
    /// </summary>
    [Theory]
    [InlineData(0.0f)]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.75f)]
    [InlineData(1.0f)]
    public void LerpMovesTowardsTheEnd(float weight)
    {
        const int n = 1001;
        var a = F32(Randn(1, n) * 3);
        var b = F32(Randn(2, n) * 3);
        using var start = Upload(a);
        using var end = Upload(b);
        Cpu.Arithmetic().Lerp(start.View, end.View, weight);
        var got = Download(start);
        // torch's two forms: a + w·(b − a) below w = ½, b − (1 − w)·(b − a) from ½ on (so w = 1 lands on b).
        // (libtorch's own fp32 result can differ by an ulp: it fuses the multiply-add, which ILGPU cannot.)
        Assert.Equal(Bits(a.Select((v, i) => weight < 0.5f ? v + weight * (b[i] - v) : b[i] - (1f - weight) * (b[i] - v)).ToArray()), Bits(got));

        var expected = F64(torch.tensor(a.Select(v => (double)v).ToArray())
            .lerp(torch.tensor(b.Select(v => (double)v).ToArray()), weight));
        for (int i = 0; i < n; i++)
        {
            double allowed = Math.Pow(2, -22) * (Math.Abs(a[i]) + Math.Abs(b[i]));
            Assert.True(Math.Abs(got[i] - expected[i]) <= allowed,
                $"lerp(w={weight}) [{i}]: expected {expected[i]:G9}, got {got[i]:G9}");
        }
        // The end points: w = 0 leaves a exactly as it was, w = 1 gives b exactly.
        if (weight == 0f) Assert.Equal(Bits(a), Bits(got));
        if (weight == 1f) Assert.Equal(Bits(b), Bits(got));
        // The buffer that was not the target is untouched.
        Assert.Equal(Bits(b), Bits(Download(end)));
    }

    [Fact]
    public void WrongLengthsThrowBeforeLaunch()
    {
        var ops = Cpu.Arithmetic();
        using var four = Poisoned(4);
        using var five = Poisoned(5);
        using var six = Poisoned(6);
        using var three = Poisoned(3);

        // Mismatched: neither 5 divides 4 nor 4 is z's length for b.
        var e = Assert.Throws<ArgumentException>(() => ops.Apply<AddOp>(four.View, five.View, four.View));
        Assert.Contains("AddOp: lengths a=4, b=5, z=4", e.Message);
        // A broadcast length that does not divide z's.
        e = Assert.Throws<ArgumentException>(() => ops.Apply<MulOp>(six.View, four.View, six.View));
        Assert.Contains("MulOp: lengths a=6, b=4, z=6", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.Apply<SubOp>(four.View, six.View, six.View));
        Assert.Contains("SubOp: lengths a=4, b=6, z=6", e.Message);
        // Neither operand has z's length (3 divides 6, but one of them must be full).
        e = Assert.Throws<ArgumentException>(() => ops.Apply<DivOp>(three.View, three.View, six.View));
        Assert.Contains("one operand must have z's length", e.Message);
        // An empty broadcast operand.
        e = Assert.Throws<ArgumentException>(() => ops.Apply<AddOp>(six.View, six.View.SubView(0, 0), six.View));
        Assert.Contains("b=0", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Affine(four.View, 2f, 1f, five.View));
        Assert.Contains("Affine", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.Lerp(four.View, five.View, 0.5f));
        Assert.Contains("Lerp", e.Message);

        foreach (var buffer in new[] { four, five, six, three })
            Assert.All(Download(buffer), v => Assert.True(float.IsNaN(v)));
    }
}
