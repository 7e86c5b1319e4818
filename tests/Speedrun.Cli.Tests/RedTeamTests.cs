using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Tests;

/// <summary>
/// Attacks a training program can make on its own measurement, each by a fixture program, run as an agent's attempt
/// at task 1 of the ladder. The ones the harness's clock and evaluation stop are in <see cref="VerdictTests"/>
/// (forged results, hidden work, a model that looks ahead); these need the sandbox (bubblewrap), which `.ci/run`
/// installs: without it they are skipped, saying so, unless SPEEDRUN_REQUIRE_SANDBOX=1 (as in CI) makes that a failure.
/// </summary>
public sealed class RedTeamTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    static void RequireSandbox()
    {
        if (Sandbox.Current is not null) return;
        var why = $"no sandbox: {Sandbox.Unavailable}";
        if (Environment.GetEnvironmentVariable("SPEEDRUN_REQUIRE_SANDBOX") == "1") Assert.Fail(why);
        Assert.Skip(why);
    }

    RunRecord Run(string fixture, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var workspace = _repo.Workspace(program: LadderRepo.FixtureProgram(fixture));
        var env = new Dictionary<string, string?>(_repo.Environment);
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) env[k] = v;
        int before = _repo.StoredRuns().Count;
        var cli = SpeedrunCli.Run(env, TimeSpan.FromMinutes(5), "run", workspace, "--track", LadderRepo.Track, "--agent", "redteam");
        var rows = _repo.StoredRuns();
        Assert.True(rows.Count == before + 1, cli.ToString());
        return rows[^1];
    }

    [Fact]
    public void ASandboxedProgramReachesNothingButItsOwnRunAndCarriesNothingToTheNext()
    {
        RequireSandbox();
        Run("MissedTarget.cs"); // another run's folder now exists
        var first = Run("Snoops.cs");
        var second = Run("Snoops.cs");
        foreach (var row in new[] { first, second })
        {
            Assert.StartsWith("bubblewrap", row.Sandbox);
            Assert.Equal("missed_target", row.Verdict);
            foreach (var what in new[] { "val shards", "records", "results store", "other runs", "runner environment", "carried state" })
                Assert.Contains($"blocked {what}:", row.Log);
            Assert.DoesNotContain("reached ", row.Log);
        }
    }

    [Fact]
    public void AnUnsandboxedRunIsMarkedAndReachesWhatTheSandboxHides()
    {
        var off = new Dictionary<string, string?> { [Sandbox.SwitchVar] = "off" };
        Run("MissedTarget.cs", off);
        var row = Run("Snoops.cs", off);
        Assert.Equal(Sandbox.None, row.Sandbox);
        // The "before" of the sandbox: the repository, the store, other runs and the runner's environment are all there.
        var records = row.Log!.Split('\n').Single(l => l.StartsWith("reached records:"));
        Assert.Contains("02-fast-bigram", records); // the next record's program: the answer
        Assert.Contains("reached results store:", row.Log);
        Assert.Contains("reached other runs:", row.Log);
        Assert.Contains($"reached runner environment: {_repo.Root}", row.Log);
        var cli = SpeedrunCli.Run(_repo.Environment, TimeSpan.FromMinutes(2), "score", "--track", LadderRepo.Track);
        Assert.Contains("task 1, hints none, agent redteam: 2 of 2 runs unsandboxed", cli.Stdout);
        File.Delete("/tmp/speedrun-redteam-carried.txt"); // what the unsandboxed program left for the next one
    }

    [Fact]
    public void EveryProcessOfARunDiesWithIt()
    {
        RequireSandbox();
        try
        {
            var row = Run("LeavesAProcess.cs");
            Assert.Contains("left behind: sleep 417", row.Log);
            Assert.Equal("missed_target", row.Verdict);
            Assert.Empty(SleepersLeft());
        }
        finally
        {
            foreach (var p in SleepersLeft()) p.Kill();
        }
    }

    static List<System.Diagnostics.Process> SleepersLeft() =>
        System.Diagnostics.Process.GetProcessesByName("sleep")
            .Where(p => File.Exists($"/proc/{p.Id}/cmdline") && File.ReadAllText($"/proc/{p.Id}/cmdline").Contains("417")).ToList();

    [Fact]
    public void FloodedOutputIsCappedInTheFolderAndTheStore()
    {
        var row = Run("Floods.cs");
        Assert.Equal("missed_target", row.Verdict);
        Assert.Contains($"[speedrun: output past {ChildProcess.MaxOutputBytes >> 20} MiB dropped]", row.Log);
        Assert.InRange(row.Log!.Length, ChildProcess.MaxOutputBytes - (2 << 10), ChildProcess.MaxOutputBytes + (64 << 10));
        Assert.InRange(new FileInfo(Path.Combine(row.OutDir!, "stdout.txt")).Length, 0, ChildProcess.MaxOutputBytes + (64 << 10));
    }

    [Fact]
    public void AProgramPastTheMemoryCapRunsOutOfMemoryAlone()
    {
        var row = Run("EatsMemory.cs", new Dictionary<string, string?> { [MemoryLimit.Var] = "1024" });
        Assert.Equal("crashed", row.Verdict);
        Assert.Matches("Out of memory|OutOfMemoryException", row.Log); // the runtime's abort, or the managed exception
        Assert.DoesNotContain("held 4096 MiB", row.Log);
    }

    [Fact]
    public void FillingTheRunFolderPastItsLimitStopsTheRun()
    {
        var row = Run("FillsTheDisk.cs", new Dictionary<string, string?> { [ProgramRunner.MaxRunFolderVar] = "16" });
        Assert.Equal("invalid", row.Verdict);
        Assert.Contains("wrote more than 16 MiB into its run folder", row.Problems);
        Assert.InRange(new FileInfo(Path.Combine(row.OutDir!, "ballast.bin")).Length, 16 << 20, (64 << 20) - 1); // stopped before it finished
    }
}
