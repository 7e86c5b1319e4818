namespace Speedrun.Cli.Tests;

/// <summary>`speedrun run --with-references`: the task's two records timed beside the agent's runs, interleaved, in
/// one session; `score` then takes its references from them.</summary>
public sealed class SameSessionReferencesTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    [Fact]
    public void TheRecordsAreTimedInTheSameSessionAndScorePrefersThem()
    {
        var workspace = _repo.Workspace(program: Path.Combine(_repo.RecordDir(2), "Train.cs"));
        var run = _repo.Cli("run", workspace, "--track", LadderRepo.Track, "--agent", "oracle", "--with-references", "--seeds", "2");
        Assert.True(run.ExitCode == 0, run.ToString());
        var rows = _repo.StoredRuns(withText: false);
        // Seed 0: record 1, the agent, record 2; seed 1 the other way round.
        Assert.Equal([("calibration", 1, 0), ("agent", 1, 0), ("calibration", 2, 0), ("calibration", 2, 1), ("agent", 1, 1), ("calibration", 1, 1)],
            rows.Select(r => (r.Kind, r.Record, r.Seed)));
        Assert.Single(rows.Select(r => r.Session).Distinct());
        Assert.NotNull(rows[0].Session);

        var score = _repo.Cli("score", "--track", LadderRepo.Track);
        Assert.True(score.ExitCode == 0, score.ToString());
        Assert.Contains("references timed in the agent runs' own sessions", score.Stdout);

        var bad = _repo.Cli("run", _repo.RecordDir(1), "--track", LadderRepo.Track, "--with-references");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("give a task workspace", bad.Stderr);
    }
}
