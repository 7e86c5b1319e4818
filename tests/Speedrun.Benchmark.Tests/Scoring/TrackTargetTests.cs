using Speedrun.Benchmark.Scoring;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Tests.Scoring;

/// <summary>A track's target from calibrations, against values worked out by hand.</summary>
public sealed class TrackTargetTests
{
    static int _uid;
    static readonly string Prog1 = new('1', 64), Prog2 = new('2', 64), Old2 = new('o', 64);
    static readonly Dictionary<int, string> Current = new() { [1] = Prog1, [2] = Prog2 };

    static RunRecord Cal(int record, double? loss, string program, int seed = 0, string verdict = "ok", string track = "tiny") => new()
    {
        Uid = $"t{Interlocked.Increment(ref _uid)}", Kind = "calibration", Record = record, Track = track, Seed = seed,
        Verdict = verdict, ValLoss = loss, Fingerprint = "cpu x2", SourceSha256 = program, Source = "", StartedAt = DateTimeOffset.UnixEpoch,
    };

    [Fact]
    public void The_worst_loss_of_any_record_plus_the_margin_rounded_up()
    {
        // Record 1: 4.50, 4.60 (missed an older target, still counts). Record 2: 5.301, 5.20, 5.25.
        // Ignored: record 2's old program at 9.0, a crash, another track. Worst: 5.301 + 0.05 = 5.351 -> 5.36.
        RunRecord[] runs =
        [
            Cal(1, 4.50, Prog1), Cal(1, 4.60, Prog1, seed: 1, verdict: "missed_target"),
            Cal(2, 5.301, Prog2), Cal(2, 5.20, Prog2, seed: 1), Cal(2, 5.25, Prog2, seed: 2),
            Cal(2, 9.0, Old2), Cal(2, null, Prog2, verdict: "crashed"), Cal(1, 8.0, Prog1, track: "mini"),
        ];
        var p = TrackTarget.Propose(runs, "tiny", Current, margin: 0.05);
        Assert.Empty(p.MissingRecords);
        Assert.Equal([new RecordLoss(1, 2, 4.60, 4.55), new RecordLoss(2, 3, 5.301, 5.25)], p.Records);
        Assert.Equal((2, 5.301), (p.WeakestRecord, p.WeakestValLoss));
        Assert.Equal(5.36, p.Target);
        Assert.Equal([0, 1, 2], p.Seeds);
        Assert.Equal(["cpu x2"], p.Fingerprints);
    }

    [Fact]
    public void A_loss_that_lands_on_a_hundredth_is_not_rounded_up_again()
    {
        var p = TrackTarget.Propose([Cal(1, 4.25, Prog1), Cal(2, 4.0, Prog2)], "tiny", Current, margin: 0.05);
        Assert.Equal(4.30, p.Target); // 4.25 + 0.05 is 4.3 up to binary rounding, not 4.31
    }

    [Fact]
    public void A_record_without_a_run_of_its_current_program_is_missing()
    {
        var p = TrackTarget.Propose([Cal(1, 4.5, Prog1), Cal(2, 5.0, Old2)], "tiny", Current, margin: 0.05);
        Assert.Equal([2], p.MissingRecords);
    }

    [Fact]
    public void The_ladder_order_ranks_median_train_times_against_the_official_ones()
    {
        // Official 45, 31.4, 24.9 min; calibrated medians 11 (10, 12), 8 and 9 min: ranks (3, 2, 1) against (3, 1, 2), so
        // ρ = (1·1 + 0 + 0)/√(2·2) = 0.5, and record 3 is not faster than record 2. A stale program, a crash and
        // another track do not count.
        var current = new Dictionary<int, string> { [1] = Prog1, [2] = Prog2, [3] = Prog1 };
        var official = new Dictionary<int, double> { [1] = 45, [2] = 31.4, [3] = 24.9 };
        static RunRecord Timed(RunRecord r, double minutes) => r with { TrainTimeMs = minutes * 60_000 };
        RunRecord[] runs =
        [
            Timed(Cal(1, 5, Prog1), 10), Timed(Cal(1, 5, Prog1, seed: 1), 12), Timed(Cal(2, 5, Prog2), 8), Timed(Cal(3, 5, Prog1), 9),
            Timed(Cal(2, 5, Old2), 1), Timed(Cal(3, null, Prog1, verdict: "crashed"), 1), Timed(Cal(3, 5, Prog1, track: "mini"), 1),
        ];
        var ladder = LadderOrder.Of(runs, "tiny", current, official);
        Assert.Equal([new LadderStep(1, 45, 2, 11), new LadderStep(2, 31.4, 1, 8), new LadderStep(3, 24.9, 1, 9)], ladder.Steps);
        Assert.Equal(0.5, ladder.Rho, 12);
        Assert.Equal([(2, 3)], ladder.Breaks);
    }
}
