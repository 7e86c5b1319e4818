using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Reports;

/// <summary>
/// One hint setting (and agent label) over every task it was tried on, on one track: the mean over tasks of each
/// task's mean FSR, with a hierarchical bootstrap interval (tasks with replacement, then each drawn task's two
/// records' calibrations and its runs), the figure by which the paper compares hint levels.
/// </summary>
public sealed record HintAggregate(string Hints, string? Agent, int Tasks, int Runs, double MeanFsr, double Low, double High)
{
    public static IReadOnlyList<HintAggregate> Compute(IReadOnlyList<RunRecord> runs, string track, int resamples = 10_000,
        double level = 0.95, int seed = 0)
    {
        var calibrations = runs.Where(r => r.Kind == RunLabel.Calibration).ToList();
        var result = new List<HintAggregate>();
        var agentRuns = runs.Where(r => r.Kind == RunLabel.AgentKind && r.Track == track && ProgramRunner.IsScored(r.Verdict));
        foreach (var setting in agentRuns.GroupBy(r => (Hints: r.Hints ?? "none", r.Agent))
                     .OrderBy(g => ScoreBoard.HintOrder(g.Key.Hints)).ThenBy(g => g.Key.Hints, StringComparer.Ordinal)
                     .ThenBy(g => g.Key.Agent ?? "", StringComparer.Ordinal))
        {
            var tasks = new List<(List<double> Start, List<double> Next, List<(double Ms, string Verdict)> Runs, double Mean)>();
            foreach (var task in setting.GroupBy(r => (r.Fingerprint, r.Record)))
            {
                var versions = task.Select(r => (r.TrackSha256, r.ReferenceSha256)).Distinct().ToList();
                if (versions.Count != 1) continue;
                var (start, next) = ScoreBoard.ReferenceSamples(calibrations, track, task.Key.Fingerprint, task.Key.Record,
                    versions[0].TrackSha256, versions[0].ReferenceSha256);
                if (start.Count == 0 || next.Count == 0) continue;
                double tN = Statistics.Median(start), tN1 = Statistics.Median(next);
                if (!(tN > tN1)) continue;
                var list = task.Select(r => (r.TrainTimeMs ?? double.NaN, r.Verdict)).ToList();
                tasks.Add((start, next, list, list.Average(r => Fsr.Score(tN, tN1, r.Item1, r.Item2))));
            }
            if (tasks.Count == 0) continue;
            var rng = new Random(seed);
            var draws = new List<double>(resamples);
            for (int i = 0; i < resamples; i++)
            {
                double sum = 0;
                int used = 0;
                for (int t = 0; t < tasks.Count; t++)
                {
                    var (start, next, list, _) = tasks[rng.Next(tasks.Count)];
                    double tN = Statistics.ResampledMedian(rng, start), tN1 = Statistics.ResampledMedian(rng, next);
                    if (!(tN > tN1)) continue;
                    sum += Statistics.ResampledMeanFsr(rng, tN, tN1, list);
                    used++;
                }
                if (used > 0) draws.Add(sum / used);
            }
            var sorted = draws.ToArray();
            Array.Sort(sorted);
            result.Add(new HintAggregate(setting.Key.Hints, setting.Key.Agent, tasks.Count, tasks.Sum(t => t.Runs.Count),
                tasks.Average(t => t.Mean), Statistics.Quantile(sorted, (1 - level) / 2), Statistics.Quantile(sorted, (1 + level) / 2)));
        }
        return result;
    }
}
