using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Tests.Reports;

/// <summary>Scores from stored rows, against numbers worked out by hand.</summary>
public sealed class ScoreBoardTests
{
    static int _uid;

    static RunRecord Run(string kind, int record, double? ms, string verdict = "ok", string? hints = null,
        string fingerprint = "machine-A", string track = "tiny") => new()
    {
        Uid = $"u{Interlocked.Increment(ref _uid)}", Kind = kind, Record = record, Hints = hints, Track = track, Seed = 0,
        Verdict = verdict, TrainTimeMs = ms, Fingerprint = fingerprint, SourceSha256 = new string('0', 64), Source = "",
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    static RunRecord Cal(int record, double? ms, string verdict = "ok", string fingerprint = "machine-A", string track = "tiny") =>
        Run("calibration", record, ms, verdict, fingerprint: fingerprint, track: track);

    static RunRecord Agent(double? ms, string verdict = "ok", string hints = "none", string fingerprint = "machine-A", string track = "tiny") =>
        Run("agent", 1, ms, verdict, hints, fingerprint, track);

    /// <summary>
    /// Record 1: ok times 100, 110, 90 (a crashed run at 10 ms does not count): median 100, sample std 10.
    /// Record 2: 60, 58, 62: median 60. Gap 40 ms, noise 10/40 = 0.25.
    /// Agent runs with no hints: 70 ok -> 0.75; 80 ok -> 0.5; crashed -> 0; missed_target at 50 ms -> 0.
    /// Mean (0.75 + 0.5)/4 = 0.3125. IQM: n = 4 drops one each end of 0, 0, 0.5, 0.75 -> (0 + 0.5)/2 = 0.25.
    /// The intervals resample record 1's and record 2's ok calibrations with the agent's runs. Low end of the mean's:
    /// a resample of the agent's runs that is all zeros (the crashed and the missed run) has probability 1/16 = 6.25% >
    /// 2.5% and 0 is the smallest mean any resample can have (the ok runs are faster than every record-1 median), so the
    /// 2.5% quantile is 0. High end: wider than the 0.625 that resampling the agent's runs alone gives.
    /// With hints 1: one ok run at 60 ms -> FSR 1. Its interval comes from the references alone: a median of three
    /// draws from {90, 100, 110} is 90 or 110 with probability 7/27 each and 100 with 13/27, and likewise 58, 60, 62 for
    /// record 2; FSR (t_1 − 60)/(t_1 − t_2) is smallest, 30/32, at (90, 58) with probability 49/729 = 6.7% > 2.5%, and
    /// largest, 30/28, at (90, 62) with 6.7%: the interval is [30/32, 30/28].
    /// </summary>
    static readonly RunRecord[] Ladder =
    [
        Cal(1, 100), Cal(1, 110), Cal(1, 90), Cal(1, 10, "crashed"),
        Cal(2, 60), Cal(2, 58), Cal(2, 62),
        Agent(70), Agent(80), Agent(null, "crashed"), Agent(50, "missed_target"),
        Agent(60, hints: "1"),
    ];

    [Fact]
    public void Each_agent_gets_its_own_cell_even_with_the_same_hints()
    {
        // The oracle (record 2's program, 60 ms) and the null agent (record 1's, 100 ms), both with no hints: pooled,
        // they would read as one agent with FSR 0.5; apart, 1 and 0.
        RunRecord[] runs =
        [
            Cal(1, 100), Cal(1, 110), Cal(1, 90), Cal(2, 60), Cal(2, 58), Cal(2, 62),
            Agent(60) with { Agent = "oracle" }, Agent(60) with { Agent = "oracle" },
            Agent(100) with { Agent = "null" }, Agent(100) with { Agent = "null" },
        ];
        var report = ScoreBoard.Compute(runs);
        Assert.Equal([("none", "null"), ("none", "oracle")], report.Cells.Select(c => (c.Hints, c.Agent!)));
        Assert.Equal([0.0, 0.0], report.Cells[0].Fsr);
        Assert.Equal([1.0, 1.0], report.Cells[1].Fsr);
    }

    [Fact]
    public void Scores_a_task_by_hand()
    {
        var report = ScoreBoard.Compute(Ladder);
        Assert.Empty(report.Problems);
        var task = Assert.Single(report.Tasks);
        Assert.Equal(new ReferenceTime(1, 3, 4, 100, 10), task.Start);
        Assert.Equal(new ReferenceTime(2, 3, 3, 60, 2), task.Next);
        Assert.Equal(0.25, task.Noise!.Value, 12);

        Assert.Equal(["none", "1"], report.Cells.Select(c => c.Hints));
        var none = report.Cells[0];
        Assert.Equal(4, none.Runs);
        Assert.Equal(2, none.Ok);
        Assert.Equal([0.75, 0.5, 0, 0], none.Fsr);
        Assert.Equal(0.3125, none.MeanFsr!.Value, 12);
        Assert.Equal(0.25, none.Iqm!.Value, 12);
        Assert.Equal(0, none.MeanLow);
        Assert.InRange(none.MeanHigh!.Value, 0.626, 1.0);
        Assert.True(none.IqmLow <= none.Iqm && none.Iqm <= none.IqmHigh);
        Assert.Equal(0.25, none.Noise!.Value, 12);
        Assert.Equal(2, none.Verdicts["ok"]);
        Assert.Equal(1, none.Verdicts["crashed"]);
        Assert.Equal(1, none.Verdicts["missed_target"]);
        Assert.Equal(0, none.Verdicts["timeout"]);
        Assert.Equal("ok 2, missed_target 1, crashed 1", none.VerdictsText);

        var one = report.Cells[1];
        Assert.Equal([1.0], one.Fsr);
        Assert.Equal(30.0 / 32, one.MeanLow!.Value, 12);
        Assert.Equal(30.0 / 28, one.MeanHigh!.Value, 12);
    }

    [Fact]
    public void The_interval_covers_the_true_fsr_about_as_often_as_it_says()
    {
        // 400 synthetic tasks with a known truth: record N's times ~ N(100, 3), record N+1's ~ N(60, 3), the agent's
        // ~ N(70, 3), 5 runs of each, so the true FSR is (100 − 70) / (100 − 60) = 0.75. The 95% interval must cover it
        // in 89% to 99% of the tasks (measured: 93%; a bootstrap of 5 runs is a little short, and resampling the agent's
        // runs alone covers about 70%). 400 tasks give a binomial standard error of 1.2%.
        var rng = new Random(2024);
        double Normal(double mean) => mean + 3 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        int covered = 0;
        for (int e = 0; e < 400; e++)
        {
            var start = Enumerable.Range(0, 5).Select(_ => Normal(100)).ToList();
            var next = Enumerable.Range(0, 5).Select(_ => Normal(60)).ToList();
            var agent = Enumerable.Range(0, 5).Select(_ => (Normal(70), "ok")).ToList();
            var (low, high) = Statistics.JointBootstrapCi(start, next, agent, Statistics.Mean, resamples: 2000, seed: e);
            if (low <= 0.75 && 0.75 <= high) covered++;
        }
        Assert.InRange(covered / 400.0, 0.89, 0.99);
    }

    [Fact]
    public void References_timed_in_the_agents_own_session_are_preferred()
    {
        // Session "old": record 1 at 100, record 2 at 60. Session "new" (run --with-references): 120 and 80 beside an
        // agent run at 80, so FSR (120 − 80)/(120 − 80) = 1; pooled with the old ones it would be (110 − 80)/(110 − 70) = 0.75.
        RunRecord[] runs =
        [
            Cal(1, 100) with { Session = "old" }, Cal(2, 60) with { Session = "old" },
            Cal(1, 120) with { Session = "new" }, Cal(2, 80) with { Session = "new" },
            Agent(80) with { Session = "new" },
        ];
        var report = ScoreBoard.Compute(runs);
        Assert.True(Assert.Single(report.Tasks).SameSession);
        Assert.Equal([1.0], Assert.Single(report.Cells).Fsr);

        // An agent run from a session that timed no references is scored against every calibration.
        var elsewhere = ScoreBoard.Compute([.. runs[..4], Agent(80) with { Session = "lone" }]);
        Assert.False(Assert.Single(elsewhere.Tasks).SameSession);
        Assert.Equal([0.75], Assert.Single(elsewhere.Cells).Fsr);
    }

    [Fact]
    public void Runs_the_harness_did_not_finish_are_counted_but_not_scored()
    {
        // The ladder's ok run at 70 ms (FSR 0.75), plus one run of each verdict that is the harness's, not the
        // program's: none of them may pull the mean towards 0.
        RunRecord[] runs =
        [
            Cal(1, 100), Cal(1, 110), Cal(1, 90), Cal(2, 60), Cal(2, 58), Cal(2, 62),
            Agent(70), Agent(null, "interrupted"), Agent(null, "data_error"), Agent(null, "running"),
        ];
        var cell = Assert.Single(ScoreBoard.Compute(runs).Cells);
        Assert.Equal(1, cell.Runs);
        Assert.Equal([0.75], cell.Fsr);
        Assert.Equal(0.75, cell.MeanFsr!.Value, 12);
        Assert.Equal("ok 1, running 1, interrupted 1, data_error 1", cell.VerdictsText);
    }

    static readonly string ShaA = new('a', 64), ShaB = new('b', 64), Rec2 = new('2', 64), Track1 = new('t', 64), Track2 = new('u', 64);

    static RunRecord Versioned(RunRecord run, string program, string track = "") =>
        run with { SourceSha256 = program, TrackSha256 = track.Length == 0 ? Track1 : track };

    [Fact]
    public void Only_calibrations_of_the_programs_the_agent_runs_recorded_count()
    {
        // Record 1 was calibrated in two versions: A at 100 ms, B (edited later) at 300 ms. The agent runs were
        // timed against version A, so t_1 = 100 and the gap is 40; mixing in B would give a median of 200.
        RunRecord[] runs =
        [
            Versioned(Cal(1, 100), ShaA), Versioned(Cal(1, 300), ShaB), Versioned(Cal(1, 310), ShaB),
            Versioned(Cal(2, 60), Rec2),
            Agent(80) with { TrackSha256 = Track1, ReferenceSha256 = $"{ShaA},{Rec2}" },
        ];
        var report = ScoreBoard.Compute(runs);
        Assert.Empty(report.Problems);
        Assert.Equal(100, Assert.Single(report.Tasks).Start!.MedianMs);
        Assert.Equal(0.5, Assert.Single(report.Cells).MeanFsr!.Value, 12); // (100 - 80) / 40
    }

    [Fact]
    public void Calibrations_of_another_track_file_are_refused_naming_both_versions()
    {
        RunRecord[] runs =
        [
            Versioned(Cal(1, 100), ShaA), Versioned(Cal(2, 60), Rec2),
            Agent(80) with { TrackSha256 = Track2, ReferenceSha256 = $"{ShaA},{Rec2}" },
        ];
        var report = ScoreBoard.Compute(runs);
        var problem = Assert.Single(report.Problems);
        Assert.Contains("record 1's 1 calibration run(s) here timed other versions (track tttttttttttt, program aaaaaaaaaaaa)", problem);
        Assert.Contains("(track uuuuuuuuuuuu, program aaaaaaaaaaaa); reference times never mix versions", problem);
        Assert.Null(Assert.Single(report.Cells).MeanFsr);
    }

    [Fact]
    public void Agent_runs_against_different_versions_of_a_task_are_not_mixed()
    {
        RunRecord[] runs =
        [
            Versioned(Cal(1, 100), ShaA), Versioned(Cal(1, 300), ShaB), Versioned(Cal(2, 60), Rec2),
            Agent(80) with { TrackSha256 = Track1, ReferenceSha256 = $"{ShaA},{Rec2}" },
            Agent(90) with { TrackSha256 = Track1, ReferenceSha256 = $"{ShaB},{Rec2}" },
        ];
        var report = ScoreBoard.Compute(runs);
        var problem = Assert.Single(report.Problems);
        Assert.Contains("has agent runs timed against 2 different versions", problem);
        Assert.Contains("score refuses to mix them", problem);
        Assert.All(report.Cells, c => Assert.Null(c.MeanFsr));
    }

    [Fact]
    public void Each_fingerprint_is_scored_against_its_own_calibrations()
    {
        RunRecord[] runs =
        [
            Cal(1, 100), Cal(2, 60),                                                   // machine A: gap 40
            Cal(1, 200, fingerprint: "machine-B"), Cal(2, 100, fingerprint: "machine-B"), // machine B: gap 100
            Agent(80), Agent(150, fingerprint: "machine-B"),
        ];
        var report = ScoreBoard.Compute(runs);
        Assert.Empty(report.Problems);
        Assert.Equal(2, report.Cells.Count);
        Assert.Equal(0.5, report.Cells.Single(c => c.Fingerprint == "machine-A").MeanFsr!.Value, 12); // (100-80)/40
        Assert.Equal(0.5, report.Cells.Single(c => c.Fingerprint == "machine-B").MeanFsr!.Value, 12); // (200-150)/100
    }

    [Fact]
    public void Refuses_to_mix_fingerprints_and_names_both()
    {
        var report = ScoreBoard.Compute([Cal(1, 100), Cal(2, 60), Agent(70, fingerprint: "machine-B")]);
        var cell = Assert.Single(report.Cells);
        Assert.Null(cell.MeanFsr);
        Assert.Empty(cell.Fsr);
        Assert.Equal(1, cell.Runs);
        var problem = Assert.Single(report.Problems);
        Assert.Equal(problem, cell.Problem);
        Assert.Equal(
            "Task 1 on track 'tiny' cannot be scored for the agent runs timed on 'machine-B': " +
            "record 1 is calibrated only on a different fingerprint, 'machine-A'; times from different hardware never compare; " +
            "record 2 is calibrated only on a different fingerprint, 'machine-A'; times from different hardware never compare. " +
            "Calibrate on the machine that ran the agent: speedrun calibrate --track tiny --records 1..2", problem);
    }

    [Fact]
    public void Says_which_record_to_calibrate()
    {
        var missing = ScoreBoard.Compute([Cal(1, 100), Agent(70)]);
        Assert.EndsWith("record 2 has no calibration on this track. Calibrate on the machine that ran the agent: " +
                        "speedrun calibrate --track tiny --records 2", Assert.Single(missing.Problems));

        var failed = ScoreBoard.Compute([Cal(1, 100), Cal(2, 50, "crashed"), Cal(2, null, "timeout"), Agent(70)]);
        Assert.Contains("record 2 has 2 calibration run(s) here but none ended ok (crashed 1, timeout 1)", Assert.Single(failed.Problems));

        var otherTrack = ScoreBoard.Compute([Cal(1, 100, track: "mini"), Cal(2, 60, track: "mini"), Agent(70)]);
        Assert.Contains("--records 1..2", Assert.Single(otherTrack.Problems));
    }

    [Fact]
    public void A_next_record_that_is_not_faster_is_reported_not_scored()
    {
        var report = ScoreBoard.Compute([Cal(1, 100), Cal(2, 100), Agent(70)]);
        Assert.Contains("record 2 is not faster than record 1 here (t_1 = 100 ms, t_2 = 100 ms)", Assert.Single(report.Problems));
        Assert.Null(report.Cells.Single().MeanFsr);
    }

    [Fact]
    public void A_track_filter_keeps_other_tracks_out()
    {
        var runs = Ladder.Append(Agent(10, track: "mini")).ToList();
        var report = ScoreBoard.Compute(runs, track: "tiny");
        Assert.Equal(2, report.Cells.Count);
        Assert.All(report.Cells, c => Assert.Equal("tiny", c.Track));
        Assert.Empty(ScoreBoard.Compute(runs, track: "full").Cells);
    }
}
