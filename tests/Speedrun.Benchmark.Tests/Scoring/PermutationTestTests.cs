using Speedrun.Benchmark.Scoring;

namespace Speedrun.Benchmark.Tests.Scoring;

/// <summary>The one-sided permutation test against splits counted by hand, and its false-positive rate by simulation.</summary>
public sealed class PermutationTestTests
{
    [Fact]
    public void Exact_p_values_count_the_splits_by_hand()
    {
        // Six times split 3 + 3 in C(6,3) = 20 ways; the agent holding the three fastest is the only split as extreme.
        Assert.Equal(1.0 / 20, PermutationTest.FasterPValue([4, 5, 6], [1, 2, 3]));
        // Agent {1, 2, 5}, sum 8: splits with an agent sum of at most 8 are {1,2,3} 6, {1,2,4} 7, {1,2,5} 8, {1,3,4} 8: 4 of 20.
        Assert.Equal(4.0 / 20, PermutationTest.FasterPValue([3, 4, 6], [1, 2, 5]));
        // Slower than the reference: every split is at least as extreme.
        Assert.Equal(1.0, PermutationTest.FasterPValue([1, 2, 3], [4, 5, 6]));
        // All equal: no evidence either way.
        Assert.Equal(1.0, PermutationTest.FasterPValue([2, 2], [2, 2]));
        // Nothing to compare.
        Assert.Equal(1.0, PermutationTest.FasterPValue([], [1]));
        Assert.Equal(1.0, PermutationTest.FasterPValue([1], []));
    }

    [Fact]
    public void Under_the_null_it_rejects_at_most_at_its_level()
    {
        // 400 experiments, agent and reference drawn from one distribution (6 runs each, the exact path): the share with
        // p < 0.05 must not exceed 0.05 by more than three binomial standard errors (0.033).
        var rng = new Random(12345);
        double Draw() => 100 + 5 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        int rejections = 0;
        for (int e = 0; e < 400; e++)
        {
            var reference = Enumerable.Range(0, 6).Select(_ => Draw()).ToArray();
            var agent = Enumerable.Range(0, 6).Select(_ => Draw()).ToArray();
            if (PermutationTest.FasterPValue(reference, agent) < 0.05) rejections++;
        }
        Assert.InRange(rejections / 400.0, 0, 0.05 + 3 * Math.Sqrt(0.05 * 0.95 / 400));
    }

    [Fact]
    public void Large_groups_use_seeded_random_splits_and_still_see_a_real_speedup()
    {
        // 30 + 30 runs: C(60,30) splits, far past the exact limit.
        var reference = Enumerable.Range(0, 30).Select(i => 100.0 + i % 7).ToArray();
        var faster = Enumerable.Range(0, 30).Select(i => 90.0 + i % 7).ToArray();
        double p = PermutationTest.FasterPValue(reference, faster, draws: 5000, seed: 3);
        Assert.Equal(1.0 / 5001, p); // no random split is as extreme: the smallest p the draws can give
        Assert.Equal(p, PermutationTest.FasterPValue(reference, faster, draws: 5000, seed: 3)); // seeded: reproducible
        double same = PermutationTest.FasterPValue(reference, reference.Reverse().ToArray(), draws: 5000, seed: 3);
        Assert.InRange(same, 0.3, 0.7); // equal samples: about one half
    }
}
