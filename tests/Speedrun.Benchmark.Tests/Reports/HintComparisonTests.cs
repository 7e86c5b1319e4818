using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Tests.Reports;

/// <summary>Two hint settings compared per task and over tasks, against differences worked out by hand.</summary>
public sealed class HintComparisonTests
{
    static int _uid;

    static RunRecord Run(string kind, int record, double ms, string? hints = null, string? agent = null, string verdict = "ok") => new()
    {
        Uid = $"h{Interlocked.Increment(ref _uid)}", Kind = kind, Record = record, Hints = hints, Agent = agent, Track = "tiny", Seed = 0,
        Verdict = verdict, TrainTimeMs = ms, Fingerprint = "m", SourceSha256 = new string('0', 64), Source = "", StartedAt = DateTimeOffset.UnixEpoch,
    };

    [Fact]
    public void Differences_per_task_and_over_tasks()
    {
        // Task 1: t_1 = 100, t_2 = 60 exactly (identical calibrations, so only the agents' runs vary). Hints none: 80 and
        // 80 -> FSR 0.5; hints 1: 60 and 60 -> 1.0; B − A = 0.5 with a degenerate interval [0.5, 0.5].
        // Task 3: t_3 = 50, t_4 = 40. None: 50 -> 0; hints 1: 45 and a crash -> 0.5 and 0, mean 0.25; B − A = 0.25,
        // and a resample of B's runs is {0.5, 0.5}, {0.5, 0} or {0, 0}: B − A in {0.5, 0.25, 0}, each end 1/4 > 2.5%.
        RunRecord[] runs =
        [
            Run("calibration", 1, 100), Run("calibration", 1, 100), Run("calibration", 2, 60), Run("calibration", 2, 60),
            Run("calibration", 3, 50), Run("calibration", 4, 40),
            Run("agent", 1, 80, "none"), Run("agent", 1, 80, "none"), Run("agent", 1, 60, "1"), Run("agent", 1, 60, "1"),
            Run("agent", 3, 50, "none"), Run("agent", 3, 45, "1"), Run("agent", 3, 0, "1", verdict: "crashed"),
            Run("agent", 3, 30, "2"), // another setting: ignored
        ];
        var report = HintComparison.Compute(runs, "none", "1", resamples: 4000);
        Assert.Empty(report.Problems);
        Assert.Equal([1, 3], report.Tasks.Select(t => t.Task));
        var one = report.Tasks[0];
        Assert.Equal((2, 2, 0.5, 1.0, 0.5, 0.5, 0.5), (one.RunsA, one.RunsB, one.FsrA, one.FsrB, one.Difference, one.Low, one.High));
        var three = report.Tasks[1];
        Assert.Equal((0.0, 0.25, 0.25, 0.0, 0.5), (three.FsrA, three.FsrB, three.Difference, three.Low, three.High));
        // Over tasks: the mean of 0.5 and 0.25, 0.375. A hierarchical draw takes two tasks with replacement: task 1
        // always gives 0.5, task 3 gives 0.5, 0.25 or 0 with probabilities 1/4, 1/2, 1/4. The mean is 0 only when both
        // draws are task 3 at 0 (1/4 · 1/16 = 1.6%) and 0.125 with a further 1/4 · 2 · 1/4 · 1/2 = 6.25%, so the 2.5%
        // quantile is 0.125; it is 0.5 with probability 1/4 + 1/2 · 1/4 + 1/4 · 1/16 = 39%, so the 97.5% quantile is 0.5.
        // (4,000 draws: about 62 ± 8 at 0, far from the rank 100 that decides.)
        Assert.Equal(0.375, report.Difference!.Value, 12);
        Assert.Equal(0.125, report.Low!.Value, 12);
        Assert.Equal(0.5, report.High!.Value, 12);
    }

    [Fact]
    public void Each_setting_over_tasks_for_the_report()
    {
        // The runs of the first test, one setting at a time, on the report's plot. Hints 1: task 1 gives 1 every draw,
        // task 3 gives 0.5, 0.25 or 0 (1/4, 1/2, 1/4); over the two tasks the mean is 0.625. Two task draws average to 0
        // with 1/4 · 1/16 = 1.6% and to 0.125 with 1/4 · 2 · 1/8 = 6.25% more, so the 2.5% quantile is 0.125; both draws
        // are task 1 (mean 1) with 1/4, so the 97.5% quantile is 1. Hints none: task 1 gives 0.5, task 3 gives 0; means
        // 0.5, 0.25, 0 with 1/4, 1/2, 1/4: the interval is [0, 0.5] around 0.25.
        RunRecord[] runs =
        [
            Run("calibration", 1, 100), Run("calibration", 1, 100), Run("calibration", 2, 60), Run("calibration", 2, 60),
            Run("calibration", 3, 50), Run("calibration", 4, 40),
            Run("agent", 1, 80, "none"), Run("agent", 1, 80, "none"), Run("agent", 1, 60, "1"), Run("agent", 1, 60, "1"),
            Run("agent", 3, 50, "none"), Run("agent", 3, 45, "1"), Run("agent", 3, 0, "1", verdict: "crashed"),
        ];
        var rows = HintAggregate.Compute(runs, "tiny", resamples: 4000);
        Assert.Equal(["none", "1"], rows.Select(r => r.Hints));
        Assert.Equal(new HintAggregate("none", null, 2, 3, 0.25, 0, 0.5), rows[0]);
        Assert.Equal(new HintAggregate("1", null, 2, 4, 0.625, 0.125, 1.0), rows[1]);
    }

    [Fact]
    public void An_agent_filter_and_tasks_without_both_settings()
    {
        RunRecord[] runs =
        [
            Run("calibration", 1, 100), Run("calibration", 2, 60),
            Run("agent", 1, 80, "none", "x"), Run("agent", 1, 60, "1", "y"),
        ];
        Assert.Empty(HintComparison.Compute(runs, "none", "1", agent: "x").Tasks); // x never ran with hints 1
        Assert.Single(HintComparison.Compute(runs, "none", "1").Tasks);
    }
}
