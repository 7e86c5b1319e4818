using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;

namespace Speedrun.Kernels.Tests.Ops;

public class ReductionTests
{
    // Lengths around every stage boundary (32-wide tree, 1024 and 65536 partials) and odd tails.
    public static TheoryData<int> Lengths => new() { 0, 1, 5, 31, 33, 1000, 1024, 1025, 65536, 65537, 200003 };

    /// <summary>fp32 sums of at most ~70 terms per chain: the error stays below ~1e-6 of sum |x|.</summary>
    static void CloseToSum(double expected, double sumOfMagnitudes, float got, string what) =>
        Assert.True(Math.Abs(got - expected) <= 1e-6 * sumOfMagnitudes + 1e-30,
            $"{what}: expected {expected:G9}, got {got:G9} (allowed {1e-6 * sumOfMagnitudes:G3})");

    [Theory, MemberData(nameof(Lengths))]
    public void SumAndSumOfSquaresMatchFloat64(int n)
    {
        var x = F64(Exact32(Randn(n + 3, n) + 0.3)); // a mean offset so the sum is not ~0
        // ILGPU cannot allocate an empty buffer; the empty case is a zero-length view of a real one.
        using var buffer = Upload(n == 0 ? [float.NaN] : x.Select(v => (float)v).ToArray());
        var dx = buffer.View.SubView(0, n);
        using var result = Poisoned(1);
        var ops = Cpu.Reduction();

        ops.Sum(dx, result.View);
        CloseToSum(x.Sum(), x.Sum(Math.Abs), Download(result)[0], $"Sum n={n}");

        ops.SumOfSquares(dx, result.View);
        CloseToSum(x.Sum(v => v * v), x.Sum(v => v * v), Download(result)[0], $"SumOfSquares n={n}");
    }

    /// <summary>Bit-identical between runs, and between 1 lane per row (the CPU's choice) and warp-wide rows
    /// (CUDA's): the order of additions depends only on the length.</summary>
    [Theory]
    [InlineData(37)]
    [InlineData(1025)]
    [InlineData(200003)]
    public void ResultDoesNotDependOnRunOrLaneCount(int n)
    {
        var x = F32(Randn(11, n) * 1000);
        using var dx = Upload(x);
        using var result = Poisoned(1);
        var oneLane = new ReductionKernels(Cpu, 1);
        var warpLanes = new ReductionKernels(Cpu, Cpu.Accelerator.WarpSize);
        int Bits(ReductionKernels r, bool squares)
        {
            if (squares) r.SumOfSquares(dx.View, result.View); else r.Sum(dx.View, result.View);
            return BitConverter.SingleToInt32Bits(Download(result)[0]);
        }
        foreach (bool squares in new[] { false, true })
        {
            int first = Bits(oneLane, squares);
            Assert.Equal(first, Bits(oneLane, squares));
            Assert.Equal(first, Bits(warpLanes, squares));
        }
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        using var x = Poisoned(10);
        using var two = Poisoned(2);
        var e = Assert.Throws<ArgumentException>(() => Cpu.Reduction().Sum(x.View, two.View));
        Assert.Contains("Sum", e.Message);
        Assert.Contains("result has 2 elements", e.Message);
        e = Assert.Throws<ArgumentException>(() => Cpu.Reduction().SumOfSquares(x.View, two.View));
        Assert.Contains("SumOfSquares", e.Message);
    }
}
