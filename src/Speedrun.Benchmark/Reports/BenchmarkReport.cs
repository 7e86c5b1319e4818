using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Reports;

/// <summary>How many runs of a task (agent runs) or of a record (calibrations) ended with a verdict.</summary>
public sealed record VerdictCount(string Kind, int Record, string Verdict, int Count);

/// <summary>One validation point of one run, for the loss-against-time plot and its CSV.</summary>
public sealed record LossPoint(string Uid, string Kind, int Record, string? Hints, string? Agent, int Seed, string Verdict,
    string Fingerprint, int Step, double TrainTimeMs, double? ValLoss)
{
    /// <summary>The legend group: a calibrated record, or a task with a hint setting.</summary>
    public string Series => Kind == RunLabel.Calibration ? $"record {Record} (calibration)" : $"task {Record}, hints {Hints ?? "none"} (agent)";
}

/// <summary>Everything the report shows about one track.</summary>
public sealed record TrackReport(string Track, double? TargetValLoss, ScoreReport Scores, IReadOnlyList<LossPoint> Losses,
    IReadOnlyList<VerdictCount> Verdicts, int CalibrationRuns, int AgentRuns, IReadOnlyList<string> Fingerprints)
{
    /// <summary>Each hint setting over every task it was tried on (<see cref="HintAggregate"/>).</summary>
    public IReadOnlyList<HintAggregate> HintAggregates { get; init; } = [];

    /// <summary>FSR by model × scaffold × hint setting, from `speedrun agent`'s final runs (<see cref="AgentScore"/>).</summary>
    public IReadOnlyList<AgentScore> AgentScores { get; init; } = [];
}

/// <summary>
/// The tables behind `speedrun report`, computed from the results store's rows: per track, the score table
/// (<see cref="ScoreBoard"/>), every run's validation curve, and verdict counts per task and per calibrated
/// record. <see cref="ReportWriter"/> turns it into files.
/// </summary>
public sealed record BenchmarkReport(string StorePath, DateTimeOffset Created, IReadOnlyList<TrackReport> Tracks)
{
    /// <param name="runs">Store rows (with validations).</param>
    /// <param name="track">Only this track, or every track that has runs.</param>
    /// <param name="targetOf">The target loss of a track by name, when known (drawn on the loss plot).</param>
    public static BenchmarkReport Build(IReadOnlyList<RunRecord> runs, string? track, string storePath,
        Func<string, double?> targetOf, int resamples = 10_000, int seed = 0)
    {
        var tracks = runs.Select(r => r.Track).Where(t => track is null || t == track).Distinct().Order(StringComparer.Ordinal);
        var reports = new List<TrackReport>();
        foreach (var name in tracks)
        {
            var onTrack = runs.Where(r => r.Track == name).ToList();
            var scores = ScoreBoard.Compute(onTrack, name, resamples, seed: seed);
            var losses = onTrack.SelectMany(r => r.Validations.Select(v => new LossPoint(r.Uid, r.Kind, r.Record, r.Hints, r.Agent,
                r.Seed, r.Verdict, r.Fingerprint, v.Step, v.TrainTimeMs, double.IsFinite(v.ValLoss) ? v.ValLoss : null))).ToList();
            var verdicts = onTrack.GroupBy(r => (r.Kind, r.Record))
                .OrderBy(g => g.Key.Kind == RunLabel.AgentKind ? 0 : 1).ThenBy(g => g.Key.Record)
                .SelectMany(g => OrderedVerdicts(g).Select(v => new VerdictCount(g.Key.Kind, g.Key.Record, v.Verdict, v.Count)))
                .ToList();
            var aggregates = HintAggregate.Compute(onTrack, name, resamples, seed: seed);
            reports.Add(new TrackReport(name, targetOf(name), scores, losses, verdicts,
                onTrack.Count(r => r.Kind == RunLabel.Calibration), onTrack.Count(r => r.Kind == RunLabel.AgentKind),
                onTrack.Select(r => r.Fingerprint).Distinct().Order(StringComparer.Ordinal).ToList())
            {
                HintAggregates = aggregates,
                AgentScores = AgentScore.Compute(onTrack, name, aggregates),
            });
        }
        return new BenchmarkReport(storePath, DateTimeOffset.UtcNow, reports);
    }

    static IEnumerable<(string Verdict, int Count)> OrderedVerdicts(IEnumerable<RunRecord> runs)
    {
        var counts = runs.GroupBy(r => r.Verdict).ToDictionary(g => g.Key, g => g.Count());
        return counts.OrderBy(c => Array.IndexOf(ProgramRunner.Verdicts, c.Key) is var i && i >= 0 ? i : int.MaxValue)
            .ThenBy(c => c.Key, StringComparer.Ordinal)
            .Select(c => (c.Key, c.Value));
    }
}
