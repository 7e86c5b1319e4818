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
}
