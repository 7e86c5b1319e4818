using System.Globalization;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Reports;

/// <summary>A record's reference time on one track and machine: the median of its calibrated `ok` train times.</summary>
public sealed record ReferenceTime(int Record, int OkRuns, int Runs, double MedianMs, double StdMs);

/// <summary>
/// The reference times of task N (records N and N+1) for the agent runs timed on one track and fingerprint,
/// the FSR noise they imply, or why the task cannot be scored there.
/// </summary>
public sealed record TaskReference(string Track, string Fingerprint, int Task, int NextRecord,
    ReferenceTime? Start, ReferenceTime? Next, double? Noise, string? Problem)
{
    /// <summary>Whether the reference times come from calibrations timed in the agent runs' own sessions.</summary>
    public bool SameSession { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public double? GapMs => Start is { } s && Next is { } n ? s.MedianMs - n.MedianMs : null;
}

/// <summary>
/// One cell of the score table: the agent runs of one task with one hint setting by one agent, on one track and
/// fingerprint. FSR values are per scored run (0 for every run whose verdict is not `ok`); <see cref="Runs"/>
/// counts the scored runs, while <see cref="Verdicts"/> also counts the runs the harness did not finish (running,
/// interrupted, data_error), which are not scored. The aggregates are null when the task has no usable
/// reference times (see <see cref="Problem"/>).
/// </summary>
public sealed record ScoreCell(string Track, string Fingerprint, int Task, string Hints, int Runs, int Ok,
    IReadOnlyDictionary<string, int> Verdicts, IReadOnlyList<double> Fsr,
    double? MeanFsr, double? MeanLow, double? MeanHigh, double? Iqm, double? IqmLow, double? IqmHigh,
    double? Noise, string? Problem)
{
    /// <summary>One-sided permutation-test p-value of "faster than record N" on the `ok` run times
    /// (<see cref="PermutationTest"/>); null without reference times.</summary>
    public double? PFaster { get; init; }

    /// <summary>The agent label the runs were stored with (`speedrun run --agent`), or null for unlabelled runs.</summary>
    public string? Agent { get; init; }

    /// <summary>Scored runs whose program ran without a sandbox (it could reach the validation shards and the
    /// repository): their times and losses are the harness's, but nothing kept the program honest.</summary>
    public int Unsandboxed { get; init; }

    /// <summary>Scored runs timed while other work kept more than <see cref="RunConditions.BusyCores"/> cores busy.</summary>
    public int UnderLoad { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public string VerdictsText =>
        string.Join(", ", Verdicts.Where(v => v.Value > 0).Select(v => $"{v.Key} {v.Value}"));
}

/// <summary>Scores: one cell per (track, fingerprint, task, hint setting), the reference times behind them,
/// and every reason a cell could not be scored.</summary>
public sealed record ScoreReport(IReadOnlyList<ScoreCell> Cells, IReadOnlyList<TaskReference> Tasks, IReadOnlyList<string> Problems,
    int Resamples, double Level, int Seed);

/// <summary>
/// Scores agent runs against calibrations, as the benchmark defines it: for task N, t_N and t_N+1 are the
/// medians of the `ok` calibration times of records N and N+1 measured on the same track and hardware
/// fingerprint as the agent's runs (times from different fingerprints are never mixed), from the same track file
/// and the same versions of the two records' programs that the agent runs recorded; each agent run scores
/// FSR = (t_N − t_agent)/(t_N − t_N+1), or 0 when its verdict is not `ok`; a cell reports the mean and the
/// interquartile mean with seeded percentile-bootstrap confidence intervals that resample the two records'
/// calibrations together with the agent's runs (<see cref="Statistics.JointBootstrapCi"/>), and the FSR noise
/// std(t_N)/(t_N − t_N+1) that timing alone causes.
/// </summary>
public static class ScoreBoard
{
    public static ScoreReport Compute(IReadOnlyList<RunRecord> runs, string? track = null,
        int resamples = 10_000, double level = 0.95, int seed = 0)
    {
        var calibrations = runs.Where(r => r.Kind == RunLabel.Calibration).ToList();
        var agentRuns = runs.Where(r => r.Kind == RunLabel.AgentKind && (track is null || r.Track == track)).ToList();
        var cells = new List<ScoreCell>();
        var tasks = new List<TaskReference>();
        var problems = new List<string>();

        foreach (var group in agentRuns.GroupBy(r => (r.Track, r.Fingerprint, r.Record))
                     .OrderBy(g => g.Key.Track, StringComparer.Ordinal).ThenBy(g => g.Key.Record)
                     .ThenBy(g => g.Key.Fingerprint, StringComparer.Ordinal))
        {
            var (trackName, fingerprint, task) = group.Key;
            // References timed in the same sessions as the agent's runs (`run --with-references`) are preferred: the
            // same machine state, interleaved.
            var pool = SameSessionPool(calibrations, group.ToList(), task);
            // Times compare only between the same track file and the same record programs.
            var versions = group.Select(r => (r.TrackSha256, r.ReferenceSha256)).Distinct().ToList();
            var reference = versions.Count == 1
                ? Reference(pool ?? calibrations, trackName, fingerprint, task, versions[0].TrackSha256, versions[0].ReferenceSha256)
                    with { SameSession = pool is not null }
                : new TaskReference(trackName, fingerprint, task, task + 1, null, null, null,
                    $"Task {task} on track '{trackName}' has agent runs timed against {versions.Count} different versions of the track " +
                    $"file or of records {task} and {task + 1}'s programs ({string.Join("; ", versions.Select(v => Versions(v.TrackSha256, v.ReferenceSha256)))}); " +
                    "score refuses to mix them. Score each version's runs from a store of their own.");
            tasks.Add(reference);
            if (reference.Problem is { } problem) problems.Add(problem);
            var (startTimes, nextTimes) = versions.Count == 1
                ? ReferenceSamples(pool ?? calibrations, trackName, fingerprint, task, versions[0].TrackSha256, versions[0].ReferenceSha256)
                : ([], []);
            // One cell per hint setting and agent: an agent's runs are never pooled with another's.
            foreach (var cell in group.GroupBy(r => (Hints: r.Hints ?? "none", r.Agent)).OrderBy(g => HintOrder(g.Key.Hints))
                         .ThenBy(g => g.Key.Hints, StringComparer.Ordinal).ThenBy(g => g.Key.Agent ?? "", StringComparer.Ordinal))
                cells.Add(Cell(reference, startTimes, nextTimes, cell.Key.Hints, cell.ToList(), resamples, level, seed) with
                {
                    Agent = cell.Key.Agent,
                    PFaster = startTimes.Count == 0 ? null : PermutationTest.FasterPValue(startTimes, OkTimes(cell), seed: seed),
                });
        }
        return new ScoreReport(cells, tasks, problems, resamples, level, seed);
    }

    /// <summary>Hint settings in the paper's order (none, 1, 2, 3, 1,2, 1,2,3), then any other.</summary>
    public static int HintOrder(string hints)
    {
        var index = HintSelection.PaperRegimes.Select(h => h.ToString()).ToList().IndexOf(hints);
        return index >= 0 ? index : HintSelection.PaperRegimes.Count;
    }

    static ScoreCell Cell(TaskReference reference, List<double> startTimes, List<double> nextTimes, string hints, List<RunRecord> runs,
        int resamples, double level, int seed)
    {
        var verdicts = ProgramRunner.Verdicts.ToDictionary(v => v, v => runs.Count(r => r.Verdict == v));
        foreach (var other in runs.Select(r => r.Verdict).Where(v => !verdicts.ContainsKey(v)).Distinct())
            verdicts[other] = runs.Count(r => r.Verdict == other);
        int ok = runs.Count(r => r.Verdict == "ok");
        // Runs the harness did not finish (still running, interrupted, unusable data) are counted but not scored.
        runs = runs.Where(r => ProgramRunner.IsScored(r.Verdict)).ToList();
        int unsandboxed = runs.Count(r => r.Sandbox == Sandbox.None);
        int underLoad = runs.Count(r => RunConditions.FromJson(r.Conditions) is { UnderLoad: true });
        if (reference.Problem is not null || reference.Start is null || reference.Next is null)
            return new ScoreCell(reference.Track, reference.Fingerprint, reference.Task, hints, runs.Count, ok, verdicts, [],
                null, null, null, null, null, null, null, reference.Problem) { Unsandboxed = unsandboxed, UnderLoad = underLoad };

        var fsr = runs.Select(r => Fsr.Score(reference.Start.MedianMs, reference.Next.MedianMs, r.TrainTimeMs ?? double.NaN, r.Verdict))
            .ToList();
        // The intervals resample the references' calibrations with the agent's runs: t_N and t_N+1 are estimates too.
        var agentRuns = runs.Select(r => (r.TrainTimeMs ?? double.NaN, r.Verdict)).ToList();
        var (meanLow, meanHigh) = Statistics.JointBootstrapCi(startTimes, nextTimes, agentRuns, Statistics.Mean, resamples, level, seed);
        var (iqmLow, iqmHigh) = Statistics.JointBootstrapCi(startTimes, nextTimes, agentRuns, Statistics.InterquartileMean, resamples, level, seed);
        return new ScoreCell(reference.Track, reference.Fingerprint, reference.Task, hints, runs.Count, ok, verdicts, fsr,
            Statistics.Mean(fsr), meanLow, meanHigh, Statistics.InterquartileMean(fsr), iqmLow, iqmHigh, reference.Noise, null)
            { Unsandboxed = unsandboxed, UnderLoad = underLoad };
    }

    static string Short(string? sha) => sha is null ? "unrecorded" : sha[..Math.Min(12, sha.Length)];

    static string Versions(string? trackSha, string? referenceSha) =>
        $"track {Short(trackSha)}, programs {(referenceSha is null ? "unrecorded" : string.Join(" and ", referenceSha.Split(',').Select(Short)))}";

    /// <summary>
    /// The reference times of task <paramref name="task"/> for agent runs on this track and fingerprint. When the
    /// agent runs recorded the track file's hash and the two records' program hashes (rows of schema 3 on), only
    /// calibrations of those very programs on that very track file count.
    /// </summary>
    /// <summary>The calibrations of the sessions the agent runs were timed in, when every one of those sessions timed both
    /// of the task's records; otherwise null (score against every calibration).</summary>
    static List<RunRecord>? SameSessionPool(List<RunRecord> calibrations, List<RunRecord> agentRuns, int task)
    {
        var sessions = agentRuns.Select(r => r.Session).Distinct().ToList();
        if (sessions.Any(s => s is null)) return null;
        var pool = calibrations.Where(c => sessions.Contains(c.Session)).ToList();
        bool both = sessions.All(s => pool.Any(c => c.Session == s && c.Record == task && c.Verdict == "ok") &&
                                      pool.Any(c => c.Session == s && c.Record == task + 1 && c.Verdict == "ok"));
        return both ? pool : null;
    }

    /// <summary>The `ok` calibrated times of task N's two records that agent runs with these recorded versions are
    /// scored against (the samples behind t_N and t_N+1).</summary>
    public static (List<double> Start, List<double> Next) ReferenceSamples(IReadOnlyList<RunRecord> calibrations, string track,
        string fingerprint, int task, string? trackSha, string? referenceSha)
    {
        var programs = referenceSha?.Split(',');
        return (OkTimes(CalibrationsOf(calibrations, track, fingerprint, task, trackSha, programs?[0])),
                OkTimes(CalibrationsOf(calibrations, track, fingerprint, task + 1, trackSha, programs?.ElementAtOrDefault(1))));
    }

    static List<RunRecord> CalibrationsOf(IReadOnlyList<RunRecord> calibrations, string track, string fingerprint, int record,
        string? trackSha, string? programSha) =>
        calibrations.Where(c => c.Track == track && c.Fingerprint == fingerprint && c.Record == record &&
                                SameVersion(c, trackSha, programSha)).ToList();

    static List<double> OkTimes(IEnumerable<RunRecord> runs) =>
        runs.Where(c => c.Verdict == "ok" && c.TrainTimeMs is { } t && double.IsFinite(t)).Select(c => c.TrainTimeMs!.Value).ToList();

    public static TaskReference Reference(IReadOnlyList<RunRecord> calibrations, string track, string fingerprint, int task,
        string? trackSha = null, string? referenceSha = null)
    {
        int next = task + 1;
        var programs = referenceSha?.Split(',');
        var start = ReferenceOf(calibrations, track, fingerprint, task, trackSha, programs?[0]);
        var nextRef = ReferenceOf(calibrations, track, fingerprint, next, trackSha, programs?.ElementAtOrDefault(1));
        var missing = new List<int>();
        if (start is null) missing.Add(task);
        if (nextRef is null) missing.Add(next);
        if (missing.Count > 0)
            return new TaskReference(track, fingerprint, task, next, start, nextRef, null,
                MissingCalibration(calibrations, track, fingerprint, task, missing, trackSha, programs));
        double gap = start!.MedianMs - nextRef!.MedianMs;
        if (!(gap > 0))
            return new TaskReference(track, fingerprint, task, next, start, nextRef, null, string.Create(CultureInfo.InvariantCulture,
                $"Task {task} on track '{track}': record {next} is not faster than record {task} here " +
                $"(t_{task} = {start.MedianMs:F0} ms, t_{next} = {nextRef.MedianMs:F0} ms), so there is no speedup to recover; " +
                $"calibrate both again with more seeds: speedrun calibrate --track {track} --records {task}..{next} --seeds 5"));
        return new TaskReference(track, fingerprint, task, next, start, nextRef,
            Fsr.Noise(start.MedianMs, nextRef.MedianMs, start.StdMs), null);
    }

    /// <summary>Whether a calibration ran the given track file and program (null: not recorded, anything matches).</summary>
    static bool SameVersion(RunRecord calibration, string? trackSha, string? programSha) =>
        (trackSha is null || calibration.TrackSha256 == trackSha) && (programSha is null || calibration.SourceSha256 == programSha);

    static ReferenceTime? ReferenceOf(IReadOnlyList<RunRecord> calibrations, string track, string fingerprint, int record,
        string? trackSha, string? programSha)
    {
        var runs = CalibrationsOf(calibrations, track, fingerprint, record, trackSha, programSha);
        var times = OkTimes(runs);
        if (times.Count == 0) return null;
        return new ReferenceTime(record, times.Count, runs.Count, Statistics.Median(times), Statistics.StandardDeviation(times));
    }

    /// <summary>Why records lack reference times for these agent runs, and the command that fixes it.</summary>
    static string MissingCalibration(IReadOnlyList<RunRecord> calibrations, string track, string fingerprint, int task, List<int> missing,
        string? trackSha, string[]? programs)
    {
        var range = missing.Count == 2 ? $"{missing[0]}..{missing[1]}" : $"{missing[0]}";
        var fix = $"speedrun calibrate --track {track} --records {range}";
        var reasons = new List<string>();
        foreach (var record in missing)
        {
            var programSha = programs?.ElementAtOrDefault(record - task);
            var onTrack = calibrations.Where(c => c.Track == track && c.Record == record).ToList();
            var otherVersions = onTrack.Where(c => c.Fingerprint == fingerprint && !SameVersion(c, trackSha, programSha)).ToList();
            var sameMachine = onTrack.Where(c => c.Fingerprint == fingerprint && SameVersion(c, trackSha, programSha)).ToList();
            var elsewhere = onTrack.Where(c => c.Fingerprint != fingerprint && c.Verdict == "ok")
                .Select(c => c.Fingerprint).Distinct().Order(StringComparer.Ordinal).ToList();
            if (sameMachine.Count == 0 && otherVersions.Count > 0)
                reasons.Add($"record {record}'s {otherVersions.Count} calibration run(s) here timed other versions (" +
                            string.Join("; ", otherVersions.Select(c => $"track {Short(c.TrackSha256)}, program {Short(c.SourceSha256)}").Distinct()) +
                            $") than the agent runs were measured against (track {Short(trackSha)}, program {Short(programSha)}); " +
                            "reference times never mix versions");
            else if (sameMachine.Count > 0)
                reasons.Add($"record {record} has {sameMachine.Count} calibration run(s) here but none ended ok (" +
                            string.Join(", ", sameMachine.GroupBy(c => c.Verdict).Select(g => $"{g.Key} {g.Count()}")) + ")");
            else if (elsewhere.Count > 0)
                reasons.Add($"record {record} is calibrated only on a different fingerprint, " +
                            string.Join(" and ", elsewhere.Select(f => $"'{f}'")) +
                            "; times from different hardware never compare");
            else
                reasons.Add($"record {record} has no calibration on this track");
        }
        return $"Task {task} on track '{track}' cannot be scored for the agent runs timed on '{fingerprint}': " +
               string.Join("; ", reasons) + $". Calibrate on the machine that ran the agent: {fix}";
    }
}
