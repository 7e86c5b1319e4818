using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Scoring;

/// <summary>One record's place on a track's ladder: its official time and its median calibrated train time.</summary>
public sealed record LadderStep(int Record, double OfficialMinutes, int Runs, double MedianTrainMinutes);

/// <summary>
/// How well a track keeps the official ladder's order (the tracks issue asks for Spearman ρ ≥ 0.9): Spearman's rank
/// correlation between the records' official times and their median calibrated train times on the track, and the
/// consecutive records (by number, among those calibrated) whose order the track breaks, the later one not faster.
/// </summary>
public sealed record LadderOrder(IReadOnlyList<LadderStep> Steps, double Rho, IReadOnlyList<(int Earlier, int Later)> Breaks)
{
    /// <summary>From calibration runs that finished (ok or missed_target) with a train time, on <paramref name="track"/>,
    /// of the records' current programs; official times by record number.</summary>
    public static LadderOrder Of(IReadOnlyList<RunRecord> runs, string track, IReadOnlyDictionary<int, string> currentPrograms,
        IReadOnlyDictionary<int, double> officialMinutes)
    {
        var steps = runs.Where(r => r.Kind == RunLabel.Calibration && r.Track == track && r.Verdict is "ok" or "missed_target" &&
                                    r.TrainTimeMs is { } ms && double.IsFinite(ms) && officialMinutes.ContainsKey(r.Record) &&
                                    currentPrograms.TryGetValue(r.Record, out var sha) && r.SourceSha256 == sha)
            .GroupBy(r => r.Record).OrderBy(g => g.Key)
            .Select(g => new LadderStep(g.Key, officialMinutes[g.Key], g.Count(),
                Statistics.Median(g.Select(r => r.TrainTimeMs!.Value / 60_000).ToList())))
            .ToList();
        double rho = Statistics.SpearmanRho(steps.Select(s => s.OfficialMinutes).ToList(), steps.Select(s => s.MedianTrainMinutes).ToList());
        var breaks = steps.Zip(steps.Skip(1)).Where(p => p.Second.MedianTrainMinutes >= p.First.MedianTrainMinutes)
            .Select(p => (p.First.Record, p.Second.Record)).ToList();
        return new LadderOrder(steps, rho, breaks);
    }
}
