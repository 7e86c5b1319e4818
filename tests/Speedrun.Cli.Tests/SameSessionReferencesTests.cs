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
    [Fact]
    public void SeveralWorkspacesOfOneTaskShareASessionAndItsReferences()
    {
        var oracle = _repo.Workspace(program: Path.Combine(_repo.RecordDir(2), "Train.cs"));
        var unchanged = _repo.Workspace();
        // An odd seed: the whole order reversed (N+1, the workspaces from last to first, N).
        var run = _repo.Cli("run", oracle, unchanged, "--track", LadderRepo.Track, "--agent", "oracle", "--agent", "null",
            "--with-references", "--first-seed", "1", "--seeds", "1");
        Assert.True(run.ExitCode == 0, run.ToString());
        var rows = _repo.StoredRuns(withText: false);
        Assert.Equal([("calibration", 2, (string?)null), ("agent", 1, "null"), ("agent", 1, "oracle"), ("calibration", 1, null)],
            rows.Select(r => (r.Kind, r.Record, r.Agent)));
        Assert.Single(rows.Select(r => r.Session).Distinct());
        Assert.All(rows, r => Assert.Equal(1, r.Seed));
        // The oracle's program is record 2's, the null's record 1's.
        Assert.Equal(rows[0].SourceSha256, rows[2].SourceSha256);
        Assert.Equal(rows[3].SourceSha256, rows[1].SourceSha256);

        var score = _repo.Cli("score", "--track", LadderRepo.Track);
        Assert.True(score.ExitCode == 0, score.ToString());
        Assert.Contains("references timed in the agent runs' own sessions", score.Stdout);
        Assert.Contains("oracle", score.Stdout);
        Assert.Contains("null", score.Stdout);
    }

    [Fact]
    public void SeveralFoldersMustBeWorkspacesWithOneLabelEach()
    {
        var a = _repo.Workspace();
        var b = _repo.Workspace();
        var labels = _repo.Cli("run", a, b, "--track", LadderRepo.Track, "--agent", "only-one");
        Assert.Equal(2, labels.ExitCode);
        Assert.Contains("--agent is given 1 time(s) for 2 folder(s)", labels.Stderr);

        var record = _repo.Cli("run", a, _repo.RecordDir(1), "--track", LadderRepo.Track);
        Assert.Equal(2, record.ExitCode);
        Assert.Contains("must all be task workspaces", record.Stderr);
        Assert.Empty(_repo.StoredRuns(withText: false));
    }
}
