using Speedrun.Kernels.Ops;
using static Speedrun.Kernels.Tests.OpCheck;
using static Speedrun.Kernels.Tests.Ops.TorchReference;
using static TorchSharp.torch;

namespace Speedrun.Kernels.Tests.Ops;

/// <summary>
/// The transpose/split/cat/narrow/sum/mean specs check these kernels through F.* on a few shapes. Left to these
/// tests: transposes with every dimension of the 5-d view above 1 and the transpose undoing itself, copies that
/// must not write outside their block, row sums on both lane paths (exact where the sums are exact, the same
/// bits on every run), and the shape checks.
/// </summary>
public class LayoutTests
{
    static LayoutKernels Kernels(bool warpLanes) =>
        warpLanes ? new LayoutKernels(Cpu, Cpu.Accelerator.WarpSize) : Cpu.Layout();

    /// <summary>(outer, n0, mid, n1, inner).</summary>
    public static TheoryData<int, int, int, int, int> TransposeShapes => new()
    {
        { 2, 3, 4, 5, 6 }, { 1, 1, 3, 1, 2 }, { 3, 5, 1, 7, 1 }, { 1, 17, 1, 33, 1 }, { 2, 1, 2, 9, 3 },
    };

    /// <summary>A copy: the same bits as torch's permute, and transposing back (n0 and n1 exchanged) restores x.</summary>
    [Theory, MemberData(nameof(TransposeShapes))]
    public void TransposeMatchesPermuteAndUndoesItself(int outer, int n0, int mid, int n1, int inner)
    {
        int n = outer * n0 * mid * n1 * inner;
        var x = Exact32(Randn(n, outer, n0, mid, n1, inner));
        using var dx = Upload(x);
        using var y = Poisoned(n);
        using var back = Poisoned(n);
        var ops = Cpu.Layout();
        ops.Transpose(dx.View, outer, n0, mid, n1, inner, y.View);
        Assert.Equal(Bits(F32(x.permute(0, 3, 2, 1, 4))), Bits(Download(y)));
        ops.Transpose(y.View, outer, n1, mid, n0, inner, back.View);
        Assert.Equal(Bits(F32(x)), Bits(Download(back)));
    }

    /// <summary>
    /// dst[r, dstCol + c] = src[r, srcCol + c] for the block only: every other element of dst keeps its value
    /// (cat writes each part into its own columns of one output), and copying the block back restores src's
    /// columns.
    /// </summary>
    [Theory]
    [InlineData(5, 9, 2, 6, 1, 4)]
    [InlineData(1, 3, 0, 3, 0, 3)]
    [InlineData(7, 33, 32, 2, 1, 1)]
    [InlineData(70, 5, 1, 8, 4, 4)]
    [InlineData(3, 4, 4, 4, 0, 0)]
    public void CopyColumnsWritesOnlyItsBlock(int rows, int srcWidth, int srcCol, int dstWidth, int dstCol, int width)
    {
        var src = F32(Randn(rows * srcWidth, rows, srcWidth));
        var dst0 = F32(Randn(rows * dstWidth + 1, rows, dstWidth));
        using var dSrc = Upload(src);
        using var dDst = Upload(dst0);
        var ops = Cpu.Layout();
        ops.CopyColumns(dSrc.View, srcWidth, srcCol, dDst.View, dstWidth, dstCol, rows, width);
        var expected = (float[])dst0.Clone();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < width; c++)
                expected[r * dstWidth + dstCol + c] = src[r * srcWidth + srcCol + c];
        Assert.Equal(Bits(expected), Bits(Download(dDst)));
        Assert.Equal(Bits(src), Bits(Download(dSrc)));

        using var restored = Poisoned(rows * srcWidth);
        ops.CopyColumns(dDst.View, dstWidth, dstCol, restored.View, srcWidth, srcCol, rows, width);
        var got = Download(restored);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < srcWidth; c++)
            {
                float v = got[r * srcWidth + c];
                if (c >= srcCol && c < srcCol + width) Assert.Equal(BitConverter.SingleToInt32Bits(src[r * srcWidth + c]), BitConverter.SingleToInt32Bits(v));
                else Assert.True(float.IsNaN(v), $"restored[{r}, {c}] outside the block was written: {v}");
            }
    }

    /// <summary>y[i] = alpha·g[i / width]: one multiplication per element, the same bits here.</summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 1)]
    [InlineData(1, 4099)]
    [InlineData(33, 65)]
    public void RepeatSendsEachValueToItsRow(int count, int width)
    {
        var g = F32(Randn(count + width, count));
        using var dg = Upload(g);
        using var y = Poisoned(count * width);
        Cpu.Layout().Repeat(dg.View, width, -0.37f, y.View);
        var expected = Enumerable.Range(0, count * width).Select(i => -0.37f * g[i / width]).ToArray();
        Assert.Equal(Bits(expected), Bits(Download(y)));
    }

    public static TheoryData<int, int> RowShapes => new() { { 1, 1 }, { 3, 2 }, { 5, 3 }, { 7, 9 }, { 2, 33 }, { 37, 96 }, { 4, 4099 } };

    /// <summary>
    /// Integers below 2^10 in rows of at most 4099 sum exactly in fp32 in any order (every partial sum is an
    /// integer below 2^24), so one lane per row and the warp's lanes must both give the exact sums, bit for bit.
    /// </summary>
    [Theory, MemberData(nameof(RowShapes))]
    public void RowSumsAreExactOnBothLanePathsWhereTheSumIsExact(int rows, int width)
    {
        var rng = new Random(rows * 1000 + width);
        var x = Enumerable.Range(0, rows * width).Select(_ => (float)rng.Next(-1000, 1000)).ToArray();
        var expected = Enumerable.Range(0, rows).Select(r => (float)x.Skip(r * width).Take(width).Sum(v => (long)v)).ToArray();
        using var dx = Upload(x);
        foreach (bool warpLanes in new[] { false, true })
        {
            using var y = Poisoned(rows);
            Kernels(warpLanes).RowSums(dx.View, rows, width, y.View);
            Assert.True(Bits(expected).SequenceEqual(Bits(Download(y))), $"warpLanes={warpLanes}");
        }
    }

    /// <summary>
    /// On real values the two lane paths add in different orders: each is within fp32 rounding of the float64 sum
    /// (width·2^-24·Σ|x| bounds a sequential sum; the tree is tighter), and each gives the same bits every run.
    /// </summary>
    [Theory, MemberData(nameof(RowShapes))]
    public void RowSumsOnBothLanePathsAreCloseToFloat64AndRepeatable(int rows, int width)
    {
        var x = Exact32(Randn(rows + width, rows, width) * 100 + 1);
        var exact = F64(x.sum(1));
        var magnitude = F64(x.abs().sum(1));
        using var dx = Upload(x);
        foreach (bool warpLanes in new[] { false, true })
        {
            var ops = Kernels(warpLanes);
            using var y = Poisoned(rows);
            ops.RowSums(dx.View, rows, width, y.View);
            var first = Download(y);
            for (int r = 0; r < rows; r++)
            {
                double allowed = width * Math.Pow(2, -24) * magnitude[r];
                Assert.True(Math.Abs(first[r] - exact[r]) <= allowed,
                    $"warpLanes={warpLanes} row {r}: expected {exact[r]:G9}, got {first[r]:G9} (allowed {allowed:G3})");
            }
            ops.RowSums(dx.View, rows, width, y.View);
            Assert.Equal(Bits(first), Bits(Download(y)));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RowSumsOfEmptyRowsAreZero(bool warpLanes)
    {
        using var backing = Poisoned(1);
        using var y = Poisoned(3);
        Kernels(warpLanes).RowSums(backing.View.SubView(0, 0), 3, 0, y.View);
        Assert.All(Download(y), v => Assert.True(BitConverter.SingleToInt32Bits(v) == 0, $"sum of an empty row is {v}"));
    }

    [Fact]
    public void WrongShapesThrowBeforeLaunch()
    {
        var ops = Cpu.Layout();
        using var twelve = Poisoned(12);
        using var ten = Poisoned(10);
        using var three = Poisoned(3);
        using var four = Poisoned(4);

        var e = Assert.Throws<ArgumentException>(() => ops.Transpose(ten.View, 1, 2, 1, 3, 2, ten.View));
        Assert.Contains("Transpose: x has 10 elements but shape (outer=1, n0=2, mid=1, n1=3, inner=2) needs 12", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.Transpose(twelve.View, 1, 2, 1, 3, 2, ten.View));
        Assert.Contains("Transpose", e.Message);

        // Out-of-range columns: past the source's width, past the destination's, negative.
        e = Assert.Throws<ArgumentException>(() => ops.CopyColumns(twelve.View, 4, 2, twelve.View, 4, 0, 3, 3));
        Assert.Contains("CopyColumns: columns [2, 5) of 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.CopyColumns(twelve.View, 4, 0, twelve.View, 4, 3, 3, 2));
        Assert.Contains("into [3, 5) of 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.CopyColumns(twelve.View, 4, -1, twelve.View, 4, 0, 3, 2));
        Assert.Contains("out of range", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.CopyColumns(twelve.View, 4, 0, twelve.View, 4, 0, 3, -1));
        Assert.Contains("out of range", e.Message);
        // Row counts that do not match the buffers.
        e = Assert.Throws<ArgumentException>(() => ops.CopyColumns(twelve.View, 4, 0, ten.View, 5, 0, 3, 2));
        Assert.Contains("dst has 10 elements but shape (rows=3, dstWidth=5) needs 15", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.CopyColumns(ten.View, 4, 0, twelve.View, 4, 0, 3, 2));
        Assert.Contains("src has 10 elements", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.Repeat(three.View, 3, 1f, ten.View));
        Assert.Contains("Repeat: y has 10 elements but shape (g=3, width=3) needs 9", e.Message);

        e = Assert.Throws<ArgumentException>(() => ops.RowSums(twelve.View, 3, 4, four.View));
        Assert.Contains("RowSums: y has 4 elements", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.RowSums(ten.View, 3, 4, three.View));
        Assert.Contains("RowSums: x has 10 elements", e.Message);

        foreach (var buffer in new[] { twelve, ten, three, four })
            Assert.All(Download(buffer), v => Assert.True(float.IsNaN(v)));
    }
}
