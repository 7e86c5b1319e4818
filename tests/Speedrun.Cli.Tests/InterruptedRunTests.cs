using System.Diagnostics;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Tests;

/// <summary>
/// Every run leaves a row: stored as 'running' before its program starts, it ends 'interrupted' when the user
/// stops the runner (Ctrl-C) and when the runner is killed outright (the next runner to open the store closes it).
/// </summary>
public sealed class InterruptedRunTests : IDisposable
{
    readonly LadderRepo _repo = new();

    public void Dispose() => _repo.Dispose();

    /// <summary>Starts `speedrun run` on the sleeping fixture and returns once its program has started.</summary>
    Process StartSleepingRun()
    {
        var workspace = _repo.Workspace(program: LadderRepo.FixtureProgram("Timeout.cs"));
        var runner = SpeedrunCli.StartInterruptible(_repo.Environment, "run", workspace, "--track", LadderRepo.Track, "--timeout", "5");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (runner.HasExited)
                Assert.Fail($"the runner exited early (rows: {string.Join("; ", _repo.StoredRuns(withText: false).Select(r => $"{r.Verdict} {r.OutDir}"))}):\n" +
                            runner.StandardError.ReadToEnd());
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), "the program never started");
            if (File.Exists(_repo.StorePath) && _repo.StoredRuns(withText: false) is [{ Verdict: "running", OutDir: { } dir }] &&
                File.Exists(Path.Combine(dir, "stdout.txt")) && File.ReadAllText(Path.Combine(dir, "stdout.txt")).Contains("sleeping"))
                return runner;
            Thread.Sleep(200);
        }
    }

    [Fact]
    public void CtrlCStoresTheRunAsInterrupted()
    {
        using var runner = StartSleepingRun();
        using (var signal = Process.Start("kill", ["-INT", runner.Id.ToString()])) signal.WaitForExit();
        var cli = SpeedrunCli.Wait(runner, TimeSpan.FromMinutes(1), ["run"]);

        Assert.Equal(130, cli.ExitCode);
        var row = Assert.Single(_repo.StoredRuns());
        Assert.Equal("interrupted", row.Verdict);
        Assert.StartsWith("stopped by the user", row.Problems);
        Assert.Contains("sleeping", row.Log);
        Assert.Contains("stored as 'interrupted'", cli.Stderr);
    }

    [Fact]
    public void AKilledRunnersRowIsClosedByTheNextOpen()
    {
        using var runner = StartSleepingRun();
        runner.Kill(entireProcessTree: true);
        runner.WaitForExit();

        var row = Assert.Single(_repo.StoredRuns()); // opening the store closes the row
        Assert.Equal("interrupted", row.Verdict);
        Assert.Contains("stopped before the run finished", row.Problems);
        Assert.Null(row.TrainTimeMs);
    }
}
