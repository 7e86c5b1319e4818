using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Reports;

/// <summary>One task's comparison: the mean FSR under hint settings A and B, and B − A with its interval.</summary>
public sealed record TaskComparison(string Track, string Fingerprint, int Task, int RunsA, int RunsB, double FsrA, double FsrB,
    double Difference, double Low, double High);

/// <summary>The per-task comparisons and their aggregate over tasks (null when no task has runs under both).</summary>
public sealed record HintComparisonReport(string HintsA, string HintsB, string? Agent, IReadOnlyList<TaskComparison> Tasks,
    double? Difference, double? Low, double? High, IReadOnlyList<string> Problems, int Resamples, double Level, int Seed);

/// <summary>
/// Compares two hint settings, as the paper's hint-level figure does: per task, the difference of mean FSR (B − A)
/// with a joint bootstrap interval (each resample draws the two records' calibrations once, shared by A and B, and
/// A's and B's runs); over tasks, a hierarchical bootstrap (draw tasks with replacement, then each task's samples
/// as above) of the mean per-task difference. Only tasks whose runs under both settings share a track, a machine
/// and the same record and track versions are compared.
/// </summary>
public static class HintComparison
{
    public static HintComparisonReport Compute(IReadOnlyList<RunRecord> runs, string hintsA, string hintsB, string? agent = null,
        string? track = null, int resamples = 10_000, double level = 0.95, int seed = 0)
    {
        var calibrations = runs.Where(r => r.Kind == RunLabel.Calibration).ToList();
        var agentRuns = runs.Where(r => r.Kind == RunLabel.AgentKind && (track is null || r.Track == track) &&
                                        (agent is null || r.Agent == agent) && ProgramRunner.IsScored(r.Verdict)).ToList();
        var problems = new List<string>();
        var samples = new List<(TaskComparison Row, List<double> Start, List<double> Next, List<(double, string)> A, List<(double, string)> B)>();
        foreach (var group in agentRuns.GroupBy(r => (r.Track, r.Fingerprint, r.Record)).OrderBy(g => g.Key.Track, StringComparer.Ordinal)
                     .ThenBy(g => g.Key.Record))
        {
            var (trackName, fingerprint, task) = group.Key;
            var a = group.Where(r => (r.Hints ?? "none") == hintsA).ToList();
            var b = group.Where(r => (r.Hints ?? "none") == hintsB).ToList();
            if (a.Count == 0 || b.Count == 0) continue;
            var versions = a.Concat(b).Select(r => (r.TrackSha256, r.ReferenceSha256)).Distinct().ToList();
            if (versions.Count != 1)
            {
                problems.Add($"task {task} on track '{trackName}': the runs were timed against {versions.Count} versions of the track or records; not compared");
                continue;
            }
            var (start, next) = ScoreBoard.ReferenceSamples(calibrations, trackName, fingerprint, task, versions[0].TrackSha256, versions[0].ReferenceSha256);
            if (start.Count == 0 || next.Count == 0 || !(Statistics.Median(start) > Statistics.Median(next)))
            {
                problems.Add($"task {task} on track '{trackName}': no usable reference times on this machine (see `speedrun score`); not compared");
                continue;
            }
            double tN = Statistics.Median(start), tN1 = Statistics.Median(next);
            double Mean(List<RunRecord> rs) => rs.Average(r => Fsr.Score(tN, tN1, r.TrainTimeMs ?? double.NaN, r.Verdict));
            var runsA = a.Select(r => (r.TrainTimeMs ?? double.NaN, r.Verdict)).ToList();
            var runsB = b.Select(r => (r.TrainTimeMs ?? double.NaN, r.Verdict)).ToList();
            var rng = new Random(seed + task);
            var diffs = new List<double>(resamples);
            for (int i = 0; i < resamples; i++)
                if (Draw(rng, start, next, runsA, runsB) is { } d) diffs.Add(d);
            var (low, high) = Interval(diffs, level);
            double fa = Mean(a), fb = Mean(b);
            samples.Add((new TaskComparison(trackName, fingerprint, task, a.Count, b.Count, fa, fb, fb - fa, low, high), start, next, runsA, runsB));
        }

        if (samples.Count == 0)
            return new HintComparisonReport(hintsA, hintsB, agent, [], null, null, null, problems, resamples, level, seed);
        // Hierarchical: tasks with replacement, then each drawn task's references and runs.
        var all = new List<double>(resamples);
        var random = new Random(seed);
        for (int i = 0; i < resamples; i++)
        {
            double sum = 0;
            int used = 0;
            for (int t = 0; t < samples.Count; t++)
            {
                var s = samples[random.Next(samples.Count)];
                if (Draw(random, s.Start, s.Next, s.A, s.B) is { } d) { sum += d; used++; }
            }
            if (used > 0) all.Add(sum / used);
        }
        var (lo, hi) = Interval(all, level);
        return new HintComparisonReport(hintsA, hintsB, agent, samples.Select(s => s.Row).ToList(),
            samples.Average(s => s.Row.Difference), lo, hi, problems, resamples, level, seed);
    }

    /// <summary>One joint resample of a task: B's mean FSR minus A's, both scored against the same resampled references;
    /// null when the resampled references show no speedup.</summary>
    static double? Draw(Random rng, List<double> start, List<double> next, List<(double Ms, string Verdict)> a, List<(double Ms, string Verdict)> b)
    {
        double tN = Statistics.ResampledMedian(rng, start), tN1 = Statistics.ResampledMedian(rng, next);
        if (!(tN > tN1)) return null;
        double meanB = Statistics.ResampledMeanFsr(rng, tN, tN1, b); // B's runs are drawn before A's
        return meanB - Statistics.ResampledMeanFsr(rng, tN, tN1, a);
    }

    static (double Low, double High) Interval(List<double> values, double level)
    {
        if (values.Count == 0) return (double.NaN, double.NaN);
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return (Statistics.Quantile(sorted, (1 - level) / 2), Statistics.Quantile(sorted, (1 + level) / 2));
    }
}
