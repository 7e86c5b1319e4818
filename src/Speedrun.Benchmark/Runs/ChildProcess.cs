using System.Diagnostics;

namespace Speedrun.Benchmark.Runs;

/// <summary>How a child of the runner is started: the command that hosts it (the speedrun executable and one of its
/// hidden verbs, "exec" or "exec-eval"), chosen by the caller so this layer never names the CLI, and the variables
/// the host itself needs in its environment (the .NET runtime's settings), which every wrapper keeps.</summary>
public sealed record ProgramHost(string FileName, IReadOnlyList<string> PrefixArguments)
{
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>The two children of a run: the training process and the evaluation process.</summary>
public sealed record RunnerHosts(ProgramHost Training, ProgramHost Evaluation);

/// <summary>What happened to a child process. <paramref name="Elapsed"/> is the harness's wall time, from just before
/// the process was created until it exited: start-up, JIT and everything the program did.</summary>
public sealed record ChildOutcome(int ExitCode, bool TimedOut, TimeSpan Elapsed);

/// <summary>
/// A child process of the runner with its stdout and stderr streamed line by line to callbacks and to files (the first
/// <see cref="MaxOutputBytes"/> of each); on a timeout, a cancellation or <see cref="Dispose"/> the whole process tree
/// is killed.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    /// <summary>What is kept of each of a child's output streams.</summary>
    public const long MaxOutputBytes = 8L << 20;

    readonly Process _process;
    readonly Stopwatch _watch;
    readonly StreamWriter _stdout, _stderr;

    ChildProcess(Process process, Stopwatch watch, StreamWriter stdout, StreamWriter stderr) =>
        (_process, _watch, _stdout, _stderr) = (process, watch, stdout, stderr);

    /// <summary>Starts <paramref name="host"/> with <paramref name="arguments"/> after its prefix arguments.</summary>
    public static ChildProcess Start(ProgramHost host, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string>> environment,
        string stdoutFile, string stderrFile, Action<string>? onStdout = null, Action<string>? onStderr = null)
    {
        var psi = new ProcessStartInfo(host.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // the child reads nothing from the runner's terminal
            UseShellExecute = false,
        };
        foreach (var a in host.PrefixArguments.Concat(arguments)) psi.ArgumentList.Add(a);
        foreach (var (k, v) in host.Environment.Concat(environment)) psi.Environment[k] = v;

        var stdout = new StreamWriter(stdoutFile) { AutoFlush = true };
        var stderr = new StreamWriter(stderrFile) { AutoFlush = true };
        var gate = new object();
        var process = new Process { StartInfo = psi };
        long[] written = [0, 0];
        // Each stream keeps its first MaxOutputBytes: a program that floods its output fills neither the disk nor the store.
        void Line(string? line, int stream, StreamWriter file, Action<string>? callback)
        {
            if (line is null) return;
            lock (gate)
            {
                if (written[stream] > MaxOutputBytes) return;
                written[stream] += line.Length + 1;
                if (written[stream] > MaxOutputBytes)
                {
                    file.WriteLine($"[speedrun: output past {MaxOutputBytes >> 20} MiB dropped]");
                    return;
                }
                file.WriteLine(line);
            }
            callback?.Invoke(line);
        }
        process.OutputDataReceived += (_, e) => Line(e.Data, 0, stdout, onStdout);
        process.ErrorDataReceived += (_, e) => Line(e.Data, 1, stderr, onStderr);
        var watch = Stopwatch.StartNew();
        if (!process.Start())
        {
            stdout.Dispose(); stderr.Dispose(); process.Dispose();
            throw new InvalidOperationException($"Could not start {host.FileName}.");
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(process, watch, stdout, stderr);
    }

    /// <summary>Starts a child, waits for it within <paramref name="limit"/>, and returns what happened.</summary>
    public static ChildOutcome Run(ProgramHost host, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string>> environment,
        TimeSpan limit, string stdoutFile, string stderrFile, Action<string>? onStdout = null, Action<string>? onStderr = null,
        CancellationToken cancel = default)
    {
        using var child = Start(host, arguments, environment, stdoutFile, stderrFile, onStdout, onStderr);
        return child.Wait(limit, cancel);
    }

    /// <summary>Whether the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Waits until the process exits, killing its tree once <paramref name="limit"/> has passed since it
    /// started (not since this call: see <see cref="WaitAtMost"/>) or when <paramref name="cancel"/> fires; then
    /// drains its output.</summary>
    public ChildOutcome Wait(TimeSpan limit, CancellationToken cancel = default)
    {
        bool timedOut = false;
        TimeSpan elapsed;
        using (cancel.Register(Kill))
        {
            var left = limit - _watch.Elapsed;
            // WaitForExit(ms) returns when the process ends, before its output pipes are drained: the time is taken there.
            if (!_process.WaitForExit((int)Math.Clamp(left.TotalMilliseconds, 0, int.MaxValue)))
            {
                timedOut = true;
                Kill();
            }
            elapsed = _watch.Elapsed;
            // Drains the output pipes. Only WaitForExit() without a timeout waits for the asynchronous readers to reach
            // the end of the streams (with one, a child that exits at once lost all its output); bounded, since a process
            // the child left behind could hold them open.
            var drained = Task.Run(() => _process.WaitForExit());
            if (!drained.Wait(TimeSpan.FromSeconds(30))) Kill();
        }
        return new ChildOutcome(timedOut ? -1 : _process.ExitCode, timedOut, elapsed);
    }

    /// <summary>As <see cref="Wait"/>, but gives the process at most <paramref name="grace"/> more from now, however
    /// long it has run already.</summary>
    public ChildOutcome WaitAtMost(TimeSpan grace) => Wait(_watch.Elapsed + grace);

    /// <summary>Kills the process and everything it started.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
        _stdout.Dispose();
        _stderr.Dispose();
    }
}
