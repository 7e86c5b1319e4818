using Speedrun.Benchmark.Runs;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Runs;

/// <summary>How long the runner waits for a child that is about to end.</summary>
public sealed class ChildProcessTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    ChildProcess Start(string script) => ChildProcess.Start(new ProgramHost("/bin/sh", ["-c", script]), [], [],
        Path.Combine(_dir.Path, "stdout.txt"), Path.Combine(_dir.Path, "stderr.txt"));

    /// <summary>
    /// The evaluation asks a crashed process for its exit code with a grace of 10 s from then; it used to pass 10 s
    /// to Wait, whose limit counts from the start, so a process that had run longer was killed at once and reported
    /// as exit code -1. Here the child has run 3 s and ends 1 s later with code 3: a grace of 3 s from now sees that,
    /// where 3 s from the start would have killed it at once.
    /// </summary>
    [Fact]
    public void WaitAtMostCountsItsGraceFromNow()
    {
        if (!File.Exists("/bin/sh"))
        {
            Assert.Skip("needs /bin/sh");
            return;
        }
        using var child = Start("sleep 4; echo done >&2; exit 3");
        Thread.Sleep(3000);
        var outcome = child.WaitAtMost(TimeSpan.FromSeconds(3));
        Assert.False(outcome.TimedOut);
        Assert.Equal(3, outcome.ExitCode);
        Assert.Equal("done", File.ReadAllText(Path.Combine(_dir.Path, "stderr.txt")).Trim());
    }

    /// <summary>Wait's limit counts from the start: a child past it is killed at once, however long it would take.</summary>
    [Fact]
    public void WaitCountsItsLimitFromTheStart()
    {
        if (!File.Exists("/bin/sh"))
        {
            Assert.Skip("needs /bin/sh");
            return;
        }
        using var child = Start("sleep 30; exit 3");
        Thread.Sleep(1500);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var outcome = child.Wait(TimeSpan.FromSeconds(1));
        Assert.True(outcome.TimedOut);
        Assert.Equal(-1, outcome.ExitCode);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 10);
    }
}
