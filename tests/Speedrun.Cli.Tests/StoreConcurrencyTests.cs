using Microsoft.Data.Sqlite;

namespace Speedrun.Cli.Tests;

/// <summary>Two `speedrun run` processes writing one results store at the same time both land every row.</summary>
public sealed class StoreConcurrencyTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    [Fact]
    public void TwoConcurrentRunCommandsLandAllTheirRows()
    {
        var program = LadderRepo.FixtureProgram("MissedTarget.cs");
        var first = _repo.Workspace(program: program);
        var second = _repo.Workspace(hints: "1", program: program);
        string[] ArgsFor(string ws, string agent) => ["run", ws, "--track", LadderRepo.Track, "--seeds", "2", "--agent", agent];

        // Both processes start before either writes: each compiles, runs two seeds and stores each run as it ends.
        using var a = SpeedrunCli.Start(_repo.Environment, ArgsFor(first, "a"));
        using var b = SpeedrunCli.Start(_repo.Environment, ArgsFor(second, "b"));
        var resultA = SpeedrunCli.Wait(a, TimeSpan.FromMinutes(10), ArgsFor(first, "a"));
        var resultB = SpeedrunCli.Wait(b, TimeSpan.FromMinutes(10), ArgsFor(second, "b"));
        Assert.True(resultA.ExitCode == 1, resultA.ToString()); // missed_target is not ok: exit 1, rows stored
        Assert.True(resultB.ExitCode == 1, resultB.ToString());

        var rows = _repo.StoredRuns();
        Assert.Equal(4, rows.Count);
        Assert.Equal(["a", "a", "b", "b"], rows.Select(r => r.Agent!).Order());
        Assert.Equal([0, 0, 1, 1], rows.Select(r => r.Seed).Order());
        Assert.All(rows, r => Assert.Equal("missed_target", r.Verdict));
        Assert.All(rows, r => Assert.Single(r.Validations));
        Assert.Equal(4, rows.Select(r => r.Uid).Distinct().Count());
        Assert.Equal(4, rows.Select(r => r.OutDir).Distinct().Count());
        Assert.Equal(4, Directory.GetDirectories(_repo.RunsDir).Length);

        // The raw tables agree: four runs, one validation row each, schema at the current version.
        using var db = new SqliteConnection($"Data Source={_repo.StorePath};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM validations), (SELECT user_version FROM pragma_user_version)";
        using var r = cmd.ExecuteReader();
        Assert.True(r.Read());
        Assert.Equal(4, r.GetInt32(0));
        Assert.Equal(4, r.GetInt32(1));
        Assert.Equal(Benchmark.Store.ResultsStore.SchemaVersion, r.GetInt32(2));
    }
}
