using System.Diagnostics;

namespace Speedrun.Benchmark.Runs;

/// <summary>How a compiled training program is started: the command that hosts it (the speedrun executable
/// and its "exec" verb), chosen by the caller so this layer never names the CLI.</summary>
public sealed record ProgramHost(string FileName, IReadOnlyList<string> PrefixArguments);

/// <summary>What happened to a child process.</summary>
public sealed record ChildOutcome(int ExitCode, bool TimedOut, TimeSpan Elapsed);

/// <summary>
/// Runs a compiled program in a child process with a wall-clock limit, streaming stdout and stderr line by
/// line to callbacks and to files; on timeout the whole process tree is killed.
/// </summary>
public static class ChildProcess
{
    public static ChildOutcome Run(ProgramHost host, string assemblyPath, IEnumerable<KeyValuePair<string, string>> environment,
        TimeSpan limit, string stdoutFile, string stderrFile, Action<string>? onStdout = null, Action<string>? onStderr = null,
        CancellationToken cancel = default)
    {
        var psi = new ProcessStartInfo(host.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in host.PrefixArguments) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(assemblyPath);
        foreach (var (k, v) in environment) psi.Environment[k] = v;

        using var stdout = new StreamWriter(stdoutFile) { AutoFlush = true };
        using var stderr = new StreamWriter(stderrFile) { AutoFlush = true };
        var gate = new object();
        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (gate) stdout.WriteLine(e.Data);
            onStdout?.Invoke(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (gate) stderr.WriteLine(e.Data);
            onStderr?.Invoke(e.Data);
        };
        if (!process.Start()) throw new InvalidOperationException($"Could not start {host.FileName}.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        bool timedOut = false;
        using (cancel.Register(() => Kill(process)))
        {
            if (!process.WaitForExit((int)Math.Min(int.MaxValue, limit.TotalMilliseconds)))
            {
                timedOut = true;
                Kill(process);
            }
            process.WaitForExit(); // drains the output pipes
        }
        return new ChildOutcome(timedOut ? -1 : process.ExitCode, timedOut, watch.Elapsed);
    }

    static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }
}
