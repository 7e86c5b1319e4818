using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Tests.Agents;

/// <summary>`speedrun agent` mistakes a user can make: each is one line naming what to fix, before anything runs.</summary>
public sealed class AgentCommandErrorTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    CliResult Agent(params string[] args) =>
        SpeedrunCli.Run(new Dictionary<string, string?>(_repo.Environment) { ["OPENAI_API_KEY"] = null }, TimeSpan.FromMinutes(2),
            ["agent", "--task", "1", "--model", "m", "--track", LadderRepo.Track, .. args]);

    [Fact]
    public void A_missing_key_for_the_default_endpoint_is_named()
    {
        var result = Agent();
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("$OPENAI_API_KEY is not set", result.Stderr);
        Assert.False(File.Exists(_repo.StorePath) && _repo.StoredRuns().Count > 0);
    }

    [Fact]
    public void Bad_budgets_and_endpoints_are_named()
    {
        Assert.Contains("--steps is 0", Agent("--endpoint", "http://127.0.0.1:9/v1", "--steps", "0").Stderr);
        Assert.Contains("--endpoint 'ftp://x' is not an http(s) URL", Agent("--endpoint", "ftp://x").Stderr);
        Assert.Contains("--hints", Agent("--endpoint", "http://127.0.0.1:9/v1", "--hints", "7").Stderr);
    }

    [Fact]
    public void Resume_takes_no_settings_of_its_own_and_names_what_it_cannot_find()
    {
        CliResult Raw(params string[] args) => SpeedrunCli.Run(_repo.Environment, TimeSpan.FromMinutes(2), ["agent", .. args]);
        var missing = Raw("--hints", "1");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--task and --model are required (or --resume SESSION", missing.Stderr);
        var settings = Raw("--resume", "x", "--steps", "5", "--model", "m", "--endpoint", "http://127.0.0.1:9/v1");
        Assert.Equal(2, settings.ExitCode);
        Assert.Contains("--resume goes on with the session's own settings, as stored; leave out --model, --steps", settings.Stderr);
        using (ResultsStore.Open(_repo.StorePath)) { }
        var unknown = Raw("--resume", "20260101-000000-deadbeef");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains($"No agent session '20260101-000000-deadbeef' in {_repo.StorePath}", unknown.Stderr);
        var folder = Raw("--resume", _repo.Root);
        Assert.Equal(2, folder.ExitCode);
        Assert.Contains("is not the folder of an agent session", folder.Stderr);
    }
}
