namespace Speedrun.Cli.Tests;

/// <summary>`speedrun calibrate --resume --budget`: calibrating across several short calls, as on a GPU lent for
/// minutes at a time. Each call does what fits and the next one continues where it ended.</summary>
public sealed class CalibrateResumeTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    CliResult Calibrate(params string[] extra) =>
        _repo.Cli(["calibrate", "--track", LadderRepo.Track, "--records", "1..2", .. extra]);

    [Fact]
    public void ResumeSkipsWhatIsDoneAndTheBudgetLeavesWhatWouldNotFit()
    {
        var first = Calibrate("--seeds", "1");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(2, _repo.StoredRuns().Count);

        // Seeds 0 and 1 asked for, seed 0 already there: only seed 1 runs.
        var second = Calibrate("--seeds", "2", "--resume");
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("record 1, seed 0: already calibrated here (ok,", second.Stderr);
        Assert.Contains("record 2, seed 0: already calibrated here (ok,", second.Stderr);
        var rows = _repo.StoredRuns();
        Assert.Equal([(1, 0), (1, 1), (2, 0), (2, 1)], rows.Select(r => (r.Record, r.Seed)).Order());

        // A budget shorter than any earlier run of these records: seed 2 is left for the next call, and said so.
        var third = Calibrate("--seeds", "3", "--resume", "--budget", "0.01");
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.Contains("budget: 2 run(s) would not have ended within 0.01 minutes and were left; call again with --resume", third.Stderr);
        Assert.Equal(4, _repo.StoredRuns().Count);

        var bad = Calibrate("--budget", "-1");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--budget is -1", bad.Stderr);
    }
}
