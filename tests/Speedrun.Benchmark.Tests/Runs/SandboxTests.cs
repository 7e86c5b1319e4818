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

    /// <summary>
    /// A host's own variables (the runner's children run with DOTNET_TieredCompilation=0, ExecCommand.RuntimeSettings)
    /// reach its process behind prlimit, with and without the sandbox, which otherwise starts from an empty
    /// environment; the run's variables come after them. Also a child that exits at once keeps its output: ChildProcess
    /// lost all of it (this test's first run, 2026-12-01) until its drain waited for the asynchronous readers.
    /// </summary>
    [Fact]
    public void AHostsOwnVariablesReachItsProcessBehindPrlimitInAndOutOfTheSandbox()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/prlimit"))
        {
            Assert.Skip("prlimit and the sandbox are Linux's");
            return;
        }
        var script = Path.Combine(_dir.Path, "env.sh");
        File.WriteAllText(script, "#!/bin/sh\necho \"tiered=$DOTNET_TieredCompilation run=$SPEEDRUN_TEST_VAR\"\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var host = MemoryLimit.Wrap(new ProgramHost(script, []) { Environment = new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0" } },
            usesGpu: false);
        Assert.Equal("/usr/bin/prlimit", host.FileName);
        var variables = new Dictionary<string, string> { ["SPEEDRUN_TEST_VAR"] = "7" };

        string Output(ProgramHost command, IEnumerable<KeyValuePair<string, string>> runVariables)
        {
            var stdout = Path.Combine(_dir.Path, $"out-{Guid.NewGuid():N}.txt");
            var outcome = ChildProcess.Run(command, [], runVariables, TimeSpan.FromSeconds(30), stdout, stdout + ".err");
            Assert.True(outcome.ExitCode == 0, $"exit {outcome.ExitCode}: {File.ReadAllText(stdout + ".err")}");
            var text = File.ReadAllText(stdout).Trim();
            Assert.True(text.Length > 0, $"no output from {command.FileName} {string.Join(" ", command.PrefixArguments)}; stderr: {File.ReadAllText(stdout + ".err")}");
            return text;
        }

        Assert.Equal("tiered=0 run=7", Output(host, variables));
        if (Sandbox.Current is { } sandbox)
            Assert.Equal("tiered=0 run=7", Output(sandbox.Wrap(host, new SandboxSpec([], [], "/", _dir.Path, variables, Gpu: false)), []));
        else if (Environment.GetEnvironmentVariable("SPEEDRUN_REQUIRE_SANDBOX") == "1")
            Assert.Fail($"no sandbox: {Sandbox.Unavailable}");
    }

    /// <summary>
    /// The CPU time of a sandboxed process counts as the run's own: RunConditions subtracts what the runner's reaped
    /// children used from the machine's busy time. Behind bubblewrap's own init (before --as-pid-1) none of it reached
    /// the runner, so every sandboxed run reported about one core of "other work" and was flagged as timed under load.
    /// The child reports its own CPU time (the shell's `times`); other tests' children may add to the runner's count,
    /// never take from it.
    /// </summary>
    [Fact]
    public void ASandboxedProcesssCpuTimeReachesTheRunner()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("getrusage and the sandbox are Linux's");
            return;
        }
        if (Sandbox.Current is not { } sandbox)
        {
            if (Environment.GetEnvironmentVariable("SPEEDRUN_REQUIRE_SANDBOX") == "1") Assert.Fail($"no sandbox: {Sandbox.Unavailable}");
            else Assert.Skip($"no sandbox here: {Sandbox.Unavailable}");
            return;
        }
        var script = Path.Combine(_dir.Path, "busy.sh");
        File.WriteAllText(script, "#!/bin/sh\ni=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done\ntimes\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var stdout = Path.Combine(_dir.Path, "busy.txt");
        double before = RunConditions.ReapedChildrenCpuSeconds();
        var outcome = ChildProcess.Run(sandbox.Wrap(new ProgramHost(script, []), new SandboxSpec([script], [], "/", _dir.Path, [], Gpu: false)),
            [], [], TimeSpan.FromSeconds(60), stdout, stdout + ".err");
        double reaped = RunConditions.ReapedChildrenCpuSeconds() - before;
        Assert.True(outcome.ExitCode == 0, $"exit {outcome.ExitCode}: {File.ReadAllText(stdout + ".err")}");
        // dash's `times`: "0m0.950000s 0m0.000000s" (user, system) for the shell itself.
        var own = File.ReadLines(stdout).First().Split(' ').Sum(t => int.Parse(t[..t.IndexOf('m')]) * 60 +
            double.Parse(t[(t.IndexOf('m') + 1)..^1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(own > 0.2, $"the busy loop used only {own:F2} s of CPU; the check needs more");
        Assert.True(reaped >= 0.9 * own, $"the sandboxed shell used {own:F2} s of CPU, but the runner's reaped children only {reaped:F2} s");
    }
}
