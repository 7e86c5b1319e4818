using Speedrun.Benchmark.Scoring;

namespace Speedrun.Benchmark.Tests.Scoring;

/// <summary>The aggregates against values worked out by hand.</summary>
public sealed class StatisticsTests
{
    [Fact]
    public void Interquartile_mean_drops_a_quarter_from_each_end()
    {
        // n = 8, so ⌊8/4⌋ = 2 values go from each end: sorted 1 2 | 3 4 5 7 | 10 100 -> (3+4+5+7)/4 = 4.75.
        Assert.Equal(4.75, Statistics.InterquartileMean([10, 1, 4, 7, 2, 100, 3, 5]), 12);
        // n = 6: ⌊6/4⌋ = 1 from each end: 1 | 2 3 4 5 | 6 -> 3.5.
        Assert.Equal(3.5, Statistics.InterquartileMean([6, 1, 5, 2, 4, 3]), 12);
        // n = 3: ⌊3/4⌋ = 0, the plain mean: (0 + 0 + 0.9)/3 = 0.3.
        Assert.Equal(0.3, Statistics.InterquartileMean([0, 0.9, 0]), 12);
        Assert.True(double.IsNaN(Statistics.InterquartileMean([])));
    }

    [Fact]
    public void Median_and_sample_standard_deviation()
    {
        Assert.Equal(3, Statistics.Median([5, 1, 3]));
        Assert.Equal(2.5, Statistics.Median([4, 1, 3, 2]));
        // {2,4,4,4,5,5,7,9}: mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32, /(8-1) -> sqrt(32/7) = 2.13809.
        Assert.Equal(Math.Sqrt(32.0 / 7), Statistics.StandardDeviation([2, 4, 4, 4, 5, 5, 7, 9]), 12);
        Assert.Equal(0, Statistics.StandardDeviation([42]));
    }

    [Fact]
    public void Nearest_rank_quantile()
    {
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        Assert.Equal(3, Statistics.Quantile(sorted, 0.25)); // ⌈2.5⌉ = 3rd value
        Assert.Equal(1, Statistics.Quantile(sorted, 0.0));
        Assert.Equal(10, Statistics.Quantile(sorted, 0.975)); // ⌈9.75⌉ = 10th
    }

    /// <summary>
    /// The mean of a resample of {1,2,3,4}: 4^4 = 256 equally likely resamples. Their sum S = 4..16 has the counts
    /// of (x + x² + x³ + x⁴)^4, i.e. the coefficients of (1 + x + x² + x³)^4:
    ///     S:      4  5   6   7   8   9  10  11  12  13  14  15  16
    ///     count:  1  4  10  20  31  40  44  40  31  20  10   4   1    (sum 256)
    ///     cum.:   1  5  15  35  66 106 150 190 221 241 251 255 256
    /// Nearest-rank 2.5% quantile: the first S with cum. ≥ 0.025·256 = 6.4, S = 6, mean 6/4 = 1.5.
    /// Nearest-rank 97.5% quantile: the first S with cum. ≥ 0.975·256 = 249.6, S = 14, mean 14/4 = 3.5.
    /// With 10,000 random resamples the same values come out: P(mean ≤ 1.25) = 5/256 ≈ 1.95% and P(mean ≤ 1.5) =
    /// 15/256 ≈ 5.9% bracket 2.5% by about four standard errors each side (σ ≈ 0.14% and 0.24%); likewise at the top
    /// (241/256 ≈ 94.1% and 251/256 ≈ 98.0% around 97.5%). So any seed gives [1.5, 3.5].
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(12345)]
    public void Bootstrap_ci_of_the_mean_of_1_to_4_is_1_5_to_3_5(int seed)
    {
        var (low, high) = Statistics.BootstrapCi([1, 2, 3, 4], Statistics.Mean, 10_000, 0.95, seed);
        Assert.Equal(1.5, low);
        Assert.Equal(3.5, high);
    }

    [Fact]
    public void Bootstrap_ci_is_reproducible_and_collapses_on_a_constant_sample()
    {
        double[] values = [0.2, 0.9, 0.4, 0.0, 1.1];
        Assert.Equal(Statistics.BootstrapCi(values, Statistics.InterquartileMean, seed: 3),
                     Statistics.BootstrapCi(values, Statistics.InterquartileMean, seed: 3));
        Assert.Equal((2.0, 2.0), Statistics.BootstrapCi([2, 2, 2], Statistics.Mean));
        var (l, h) = Statistics.BootstrapCi([], Statistics.Mean);
        Assert.True(double.IsNaN(l) && double.IsNaN(h));
    }

    [Fact]
    public void Spearman_rho_matches_the_textbook_example_and_ties_share_their_mean_rank()
    {
        // Wikipedia's worked example (IQ against hours of TV a week): Σd² = 194, ρ = 1 − 6·194/(10·99) = −29/165.
        double[] iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110], tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17];
        Assert.Equal(-29.0 / 165, Statistics.SpearmanRho(iq, tv), 12);
        // Ties, by hand: y's ranks are 1.5, 1.5, 3.5, 3.5; Pearson of (1, 2, 3, 4) with them is 4/√(5·4) = 2/√5.
        Assert.Equal(2 / Math.Sqrt(5), Statistics.SpearmanRho([1, 2, 3, 4], [1, 1, 2, 2]), 12);
        Assert.Equal(-1, Statistics.SpearmanRho([1, 2, 3], [30, 20, 10]), 12);
        Assert.True(double.IsNaN(Statistics.SpearmanRho([1], [2])));
        Assert.True(double.IsNaN(Statistics.SpearmanRho([1, 2], [5, 5]))); // no spread: undefined, as scipy says
        Assert.Throws<ArgumentException>(() => Statistics.SpearmanRho([1, 2], [1]));
    }
}
