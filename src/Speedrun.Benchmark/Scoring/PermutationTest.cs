namespace Speedrun.Benchmark.Scoring;

/// <summary>
/// One-sided permutation test of "the agent's program is faster than record N's": the statistic is
/// mean(record N's times) − mean(the agent's times); under the null hypothesis both sets of times come from one
/// distribution, so every split of the pooled times into groups of the two sizes is equally likely. The p-value is
/// the share of splits whose statistic is at least the observed one: exact (every split) when there are at most
/// <see cref="ExactLimit"/>, otherwise from seeded random splits, (1 + hits)/(1 + draws). modded-nanogpt accepts a
/// new record at p &lt; 0.01.
/// </summary>
public static class PermutationTest
{
    public const long ExactLimit = 200_000;

    /// <summary>The p-value; 1 when either group is empty (no evidence).</summary>
    public static double FasterPValue(IReadOnlyList<double> reference, IReadOnlyList<double> agent, int draws = 20_000, int seed = 0)
    {
        if (reference.Count == 0 || agent.Count == 0) return 1;
        var pooled = reference.Concat(agent).ToArray();
        int n = pooled.Length, k = agent.Count;
        double total = pooled.Sum();
        // mean(ref) − mean(agent) is decreasing in the agent group's sum: count the splits whose agent sum is at most
        // the observed one (with a little slack for rounding).
        double observed = agent.Sum();
        double slack = 1e-9 * Math.Max(1, Math.Abs(total));
        if (Combinations(n, k) is { } count && count <= ExactLimit)
        {
            long hits = 0;
            Enumerate(pooled, k, 0, 0, 0.0, ref hits, observed + slack);
            return (double)hits / count;
        }
        var rng = new Random(seed);
        var order = Enumerable.Range(0, n).ToArray();
        long random = 0;
        for (int d = 0; d < draws; d++)
        {
            rng.Shuffle(order);
            double sum = 0;
            for (int i = 0; i < k; i++) sum += pooled[order[i]];
            if (sum <= observed + slack) random++;
        }
        return (1.0 + random) / (1.0 + draws);
    }

    static void Enumerate(double[] pooled, int k, int start, int chosen, double sum, ref long hits, double bound)
    {
        if (chosen == k)
        {
            if (sum <= bound) hits++;
            return;
        }
        for (int i = start; i <= pooled.Length - (k - chosen); i++)
            Enumerate(pooled, k, i + 1, chosen + 1, sum + pooled[i], ref hits, bound);
    }

    /// <summary>n choose k, or null past the exact limit's range.</summary>
    static long? Combinations(int n, int k)
    {
        double c = 1;
        for (int i = 1; i <= k; i++)
        {
            c = c * (n - k + i) / i;
            if (c > ExactLimit * 10.0) return null;
        }
        return (long)Math.Round(c);
    }
}
