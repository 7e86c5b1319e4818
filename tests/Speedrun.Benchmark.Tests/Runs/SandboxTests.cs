using System.Diagnostics;
using Speedrun.Benchmark.Runs;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Runs;

/// <summary>What the sandbox lets a run's own process reach.</summary>
public sealed class SandboxTests : IDisposable
{
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// The training process's command is the speedrun executable behind prlimit; for the self-contained single file
    /// of the GPU kit (.device/bin/speedrun) that executable lies outside every folder the sandbox binds by default.
    /// Its folder must be bound, or the run fails with "No such file or directory" before the program starts (as
    /// check.sh's calibrate mode did on 2026-11-30).
    /// </summary>
    [Fact]
    public async Task AProgramBehindPrlimitIsReachableInsideTheSandbox()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("the sandbox is bubblewrap, on Linux only");
            return;
        }
        if (Sandbox.Current is not { } sandbox)
        {
            var why = $"no sandbox: {Sandbox.Unavailable}";
            if (Environment.GetEnvironmentVariable("SPEEDRUN_REQUIRE_SANDBOX") == "1") Assert.Fail(why);
            Assert.Skip(why);
            return;
        }
        Assert.True(File.Exists("/usr/bin/prlimit"), "util-linux's prlimit is missing");
        var script = Path.Combine(_dir.Path, "hello.sh");
        File.WriteAllText(script, "#!/bin/sh\necho \"inside, as $(id -u)\"\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var host = sandbox.Wrap(new ProgramHost("/usr/bin/prlimit", ["--data=1073741824", "--", script]),
            new SandboxSpec([], [], "/", _dir.Path, [], Gpu: false));
        var psi = new ProcessStartInfo(host.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in host.PrefixArguments) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(30_000), "the sandboxed script did not end within 30 s");
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stderr}");
        Assert.StartsWith("inside, as ", await stdout);
    }
}
