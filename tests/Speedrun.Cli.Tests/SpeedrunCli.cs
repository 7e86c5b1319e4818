using System.Diagnostics;

namespace Speedrun.Cli.Tests;

/// <summary>What a `speedrun` child process did.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Starts the built `speedrun` command (speedrun.dll, copied next to the tests) as a real child process, the
/// way a user or an agent harness runs it, with a controlled environment: the repository root
/// (SPEEDRUN_HOME), the store (SPEEDRUN_STORE) and one processor (DOTNET_PROCESSOR_COUNT=1, so that timed runs
/// are single-threaded and less disturbed by whatever else the machine runs).
/// </summary>
public static class SpeedrunCli
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "speedrun.dll");

    static string DotNet =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static Process Start(IReadOnlyDictionary<string, string?> environment, params string[] args) =>
        Start(environment, interruptible: false, args);

    /// <summary>Like <see cref="Start(IReadOnlyDictionary{string, string?}, string[])"/>, with SIGINT's default
    /// action restored (coreutils' env --default-signal), as in a terminal: a shell that runs the test suite in the
    /// background (`cmd &`, nohup) starts it with SIGINT ignored, every child inherits that, and .NET then leaves
    /// Ctrl-C ignored, so a test of Ctrl-C would fail for a reason that is not the runner's.</summary>
    public static Process StartInterruptible(IReadOnlyDictionary<string, string?> environment, params string[] args) =>
        Start(environment, interruptible: true, args);

    static Process Start(IReadOnlyDictionary<string, string?> environment, bool interruptible, string[] args)
    {
        var psi = new ProcessStartInfo(interruptible ? "/usr/bin/env" : DotNet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (interruptible) { psi.ArgumentList.Add("--default-signal=INT"); psi.ArgumentList.Add(DotNet); } // env execs: same pid
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var name in new[] { "SPEEDRUN_HOME", "SPEEDRUN_STORE", "SPEEDRUN_DEVICE", "SPEEDRUN_OUT_DIR", "SPEEDRUN_TRACK_FILE" })
            psi.Environment.Remove(name);
        psi.Environment["DOTNET_PROCESSOR_COUNT"] = "1";
        foreach (var (k, v) in environment)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
    }

    /// <summary>Runs to completion (killing it after <paramref name="timeout"/>) and returns its output.</summary>
    public static CliResult Run(IReadOnlyDictionary<string, string?> environment, TimeSpan timeout, params string[] args)
    {
        using var process = Start(environment, args);
        return Wait(process, timeout, args);
    }

    public static CliResult Wait(Process process, TimeSpan timeout, string[] args)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"speedrun {string.Join(' ', args)} ran past {timeout}:\n{stdout.Result}\n{stderr.Result}");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
