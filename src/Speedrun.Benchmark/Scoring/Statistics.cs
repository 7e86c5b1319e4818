namespace Speedrun.Benchmark.Scoring;

/// <summary>Robust aggregates of per-run scores, as the benchmark reports them.</summary>
public static class Statistics
{
    public static double Mean(IReadOnlyList<double> values) =>
        values.Count == 0 ? double.NaN : values.Average();

    /// <summary>Interquartile mean: the mean after dropping ⌊n/4⌋ values from each end of the sorted sample
    /// (scipy.stats.trim_mean(x, 0.25), the definition rliable uses).</summary>
    public static double InterquartileMean(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        int cut = sorted.Length / 4;
        return sorted[cut..^cut].Average();
    }

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    public static double StandardDeviation(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return 0;
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }

    /// <summary>
    /// Percentile bootstrap confidence interval of <paramref name="statistic"/>: resample the values with
    /// replacement <paramref name="resamples"/> times from a seeded generator, take the (1−level)/2 and
    /// (1+level)/2 quantiles of the statistic (nearest-rank). Seeded, so a report is reproducible.
    /// </summary>
    public static (double Low, double High) BootstrapCi(IReadOnlyList<double> values, Func<IReadOnlyList<double>, double> statistic,
        int resamples = 10_000, double level = 0.95, int seed = 0)
    {
        if (values.Count == 0) return (double.NaN, double.NaN);
        var rng = new Random(seed);
        var stats = new double[resamples];
        var sample = new double[values.Count];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < sample.Length; i++) sample[i] = values[rng.Next(values.Count)];
            stats[r] = statistic(sample);
        }
        Array.Sort(stats);
        return (Quantile(stats, (1 - level) / 2), Quantile(stats, (1 + level) / 2));
    }

    /// <summary>
    /// Percentile bootstrap interval of a statistic of FSR that carries the noise of all three samples it comes from:
    /// each resample draws record N's calibrated times, record N+1's and the agent's runs, each with replacement,
    /// takes the two medians as the reference times, scores the resampled runs (<see cref="Fsr.Score"/>) and applies
    /// <paramref name="statistic"/>. Resamples whose references show no speedup (t_N ≤ t_N+1) are dropped; with more
    /// than half dropped the interval is undefined (NaN). Simulated with 5 runs of each (ScoreBoardTests), 95% intervals
    /// cover the true FSR about 93% of the time; resampling the agent's runs alone covered about 70%.
    /// </summary>
    public static (double Low, double High) JointBootstrapCi(IReadOnlyList<double> startTimes, IReadOnlyList<double> nextTimes,
        IReadOnlyList<(double Ms, string Verdict)> agentRuns, Func<IReadOnlyList<double>, double> statistic,
        int resamples = 10_000, double level = 0.95, int seed = 0)
    {
        if (startTimes.Count == 0 || nextTimes.Count == 0 || agentRuns.Count == 0) return (double.NaN, double.NaN);
        var rng = new Random(seed);
        var stats = new List<double>(resamples);
        var fsr = new double[agentRuns.Count];
        for (int r = 0; r < resamples; r++)
        {
            double tN = ResampledMedian(rng, startTimes), tN1 = ResampledMedian(rng, nextTimes);
            for (int i = 0; i < fsr.Length; i++)
            {
                var (ms, verdict) = agentRuns[rng.Next(fsr.Length)];
                fsr[i] = tN > tN1 ? Fsr.Score(tN, tN1, ms, verdict) : double.NaN;
            }
            if (tN > tN1) stats.Add(statistic(fsr));
        }
        if (stats.Count * 2 < resamples) return (double.NaN, double.NaN);
        var sorted = stats.ToArray();
        Array.Sort(sorted);
        return (Quantile(sorted, (1 - level) / 2), Quantile(sorted, (1 + level) / 2));
    }

    /// <summary>One bootstrap draw of a reference time: the median of <paramref name="values"/> resampled with replacement.</summary>
    public static double ResampledMedian(Random rng, IReadOnlyList<double> values)
    {
        var sample = new double[values.Count];
        for (int i = 0; i < sample.Length; i++) sample[i] = values[rng.Next(values.Count)];
        return Median(sample);
    }

    /// <summary>One bootstrap draw of the mean FSR of <paramref name="runs"/> (resampled with replacement) against the
    /// reference times t_N and t_N+1.</summary>
    public static double ResampledMeanFsr(Random rng, double tN, double tN1, IReadOnlyList<(double Ms, string Verdict)> runs)
    {
        double sum = 0;
        for (int i = 0; i < runs.Count; i++)
        {
            var (ms, verdict) = runs[rng.Next(runs.Count)];
            sum += Fsr.Score(tN, tN1, ms, verdict);
        }
        return sum / runs.Count;
    }

    /// <summary>
    /// Spearman's rank correlation: Pearson's correlation of the two samples' ranks, tied values sharing the mean of the
    /// ranks they span (scipy.stats.spearmanr). NaN for fewer than two pairs or a sample whose ranks are all equal.
    /// </summary>
    public static double SpearmanRho(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new ArgumentException($"SpearmanRho: {x.Count} values against {y.Count}.");
        if (x.Count < 2) return double.NaN;
        double[] rx = Ranks(x), ry = Ranks(y);
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++)
        {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>1-based ranks, ties given the mean of the ranks they span.</summary>
    static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            double shared = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = shared;
            start = end + 1;
        }
        return ranks;
    }

    /// <summary>Nearest-rank quantile of sorted values: the smallest value with at least q of the mass at or below it.</summary>
    public static double Quantile(double[] sorted, double q)
    {
        int rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
