namespace Speedrun.Cli.Tests;

/// <summary>The exact one-sided Mann-Whitney rank test, for the ladder test's "record 2 is faster" check.</summary>
public static class MannWhitney
{
    /// <summary>
    /// U counts the pairs in which a run from <paramref name="fast"/> is not faster than one from <paramref name="slow"/>
    /// (ties count one half); p is the chance of a U this small or smaller when both samples come from one
    /// distribution, found by trying every way of splitting the pooled ranks into the two groups.
    /// </summary>
    public static (double U, double P) OneSided(double[] fast, double[] slow)
    {
        static double U(IEnumerable<double> a, IEnumerable<double> b) => a.Sum(x => b.Sum(y => x > y ? 1.0 : x == y ? 0.5 : 0.0));
        double u = U(fast, slow);
        var pooled = fast.Concat(slow).ToArray();
        int n = pooled.Length, k = fast.Length, atMost = 0, splits = 0;
        for (int mask = 0; mask < 1 << n; mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)mask) != k) continue;
            var inA = Enumerable.Range(0, n).Where(i => (mask >> i & 1) == 1).Select(i => pooled[i]);
            var inB = Enumerable.Range(0, n).Where(i => (mask >> i & 1) == 0).Select(i => pooled[i]);
            splits++;
            if (U(inA, inB) <= u) atMost++;
        }
        return (u, (double)atMost / splits);
    }
}

public sealed class MannWhitneyTests
{
    [Fact]
    public void OneSidedMatchesCountedValues()
    {
        // Two groups of six, counted by hand: the splits with U = k are the partitions of k into at most six parts
        // of at most six, 1, 1, 2, 3, 5, 7, 11, 13, 18 for k = 0..8, of C(12,6) = 924 splits. So no overlap has
        // p = 1/924; U <= 6, 30/924; U <= 7, 43/924 = 0.047, the largest U significant at 0.05; U <= 8, 61/924.
        double[] a = [1, 2, 3, 4, 5, 6], b = [7, 8, 9, 10, 11, 12];
        Assert.Equal((0.0, 1.0 / 924), MannWhitney.OneSided(a, b));
        Assert.Equal((6.0, 30.0 / 924), MannWhitney.OneSided([1, 2, 3, 4, 5, 12], [6, 7, 8, 9, 10, 11]));
        Assert.Equal((7.0, 43.0 / 924), MannWhitney.OneSided([1, 2, 3, 4, 6, 12], [5, 7, 8, 9, 10, 11]));
        Assert.Equal((8.0, 61.0 / 924), MannWhitney.OneSided([1, 2, 3, 4, 7, 12], [5, 6, 8, 9, 10, 11]));
        Assert.Equal(15.0, MannWhitney.OneSided([1, 3, 5, 7, 9, 11], [2, 4, 6, 8, 10, 12]).U); // 0 + 1 + 2 + 3 + 4 + 5
        Assert.True(MannWhitney.OneSided([1, 3, 5, 7, 9, 11], [2, 4, 6, 8, 10, 12]).P > 0.25);
    }
}
