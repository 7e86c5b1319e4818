using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Scoring;

/// <summary>One record's final validation losses on a track, over its calibration runs.</summary>
public sealed record RecordLoss(int Record, int Runs, double WorstValLoss, double MedianValLoss);

/// <summary>A track target worked out from calibrations, or why it cannot be (<see cref="MissingRecords"/>).</summary>
public sealed record TargetProposal(string Track, IReadOnlyList<RecordLoss> Records, IReadOnlyList<int> MissingRecords,
    int WeakestRecord, double WeakestValLoss, double Margin, double Target, IReadOnlyList<int> Seeds, IReadOnlyList<string> Fingerprints);

/// <summary>
/// A track's target from its calibrations: every record must reach it, so it is the worst final validation loss
/// any calibration run of any record reached (ok or missed_target: a run that missed an earlier target still
/// says where that record ends), plus a margin, rounded up to 0.01. Only runs of the records' current programs
/// count; a runnable record without such a run leaves the target undecided.
/// </summary>
public static class TrackTarget
{
    public static TargetProposal Propose(IReadOnlyList<RunRecord> runs, string track,
        IReadOnlyDictionary<int, string> currentPrograms, double margin)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(margin);
        var usable = runs.Where(r => r.Kind == RunLabel.Calibration && r.Track == track &&
                                     r.Verdict is "ok" or "missed_target" && r.ValLoss is { } l && double.IsFinite(l) &&
                                     currentPrograms.TryGetValue(r.Record, out var sha) && r.SourceSha256 == sha)
            .ToList();
        var records = usable.GroupBy(r => r.Record).OrderBy(g => g.Key)
            .Select(g => new RecordLoss(g.Key, g.Count(), g.Max(r => r.ValLoss!.Value), Statistics.Median(g.Select(r => r.ValLoss!.Value).ToList())))
            .ToList();
        var missing = currentPrograms.Keys.Where(k => records.All(r => r.Record != k)).Order().ToList();
        var weakest = records.OrderByDescending(r => r.WorstValLoss).FirstOrDefault();
        double target = weakest is null ? double.NaN : Math.Ceiling(Math.Round((weakest.WorstValLoss + margin) * 100, 9)) / 100;
        return new TargetProposal(track, records, missing, weakest?.Record ?? 0, weakest?.WorstValLoss ?? double.NaN, margin, target,
            usable.Select(r => r.Seed).Distinct().Order().ToList(),
            usable.Select(r => r.Fingerprint).Distinct().Order(StringComparer.Ordinal).ToList());
    }
}
