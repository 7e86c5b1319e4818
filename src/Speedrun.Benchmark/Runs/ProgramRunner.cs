using System.Globalization;
using System.Text.RegularExpressions;
using Speedrun.Core.Data;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Runs;

/// <summary>A request to compile and run one training program once.</summary>
/// <param name="ExpectedFingerprint">The runner's own fingerprint of the device the program runs on; when set,
/// a results.json claiming another one makes the run invalid (a program cannot pass its times off as another
/// machine's).</param>
public sealed record ProgramRunRequest(
    string ProgramPath, Track Track, string TrackFile, DataPatterns Data, string? Device, int Seed, string OutDir,
    TimeSpan? TimeLimit = null, string? ExpectedFingerprint = null)
{
    /// <summary>Whether the run may use the GPU: any device but the CPU, and on a GPU track no device means auto.</summary>
    public bool UsesGpu => (Device ?? Track.Device) != "cpu";
}

/// <summary>The outcome of one run: a verdict, the harness's numbers (the training process's wall time and the
/// evaluation), the program's own results (when it wrote them), and why.</summary>
public sealed record ProgramRunOutcome(
    string Verdict, RunResult? Result, ProgramCompiler.Result Compile, ChildOutcome? Child, string OutDir,
    IReadOnlyList<string> Problems, EvaluationOutcome? Evaluation = null)
{
    /// <summary>The scored time: the training process's wall time, from before it was created until it exited.</summary>
    public double? TrainTimeMs => Child is { TimedOut: false } c ? c.Elapsed.TotalMilliseconds : null;

    /// <summary>The scored loss: the harness's evaluation of the saved model.</summary>
    public double? ValLoss => Evaluation is { Verdict: null } e ? e.ValLoss : null;

    /// <summary>The sandbox the program ran in ("bubblewrap 0.8.0"), or "none"; null when it never ran.</summary>
    public string? Sandbox { get; init; }

    /// <summary>What else the machine did while the program trained; null when it never ran or /proc is missing.</summary>
    public RunConditions? Conditions { get; init; }
}

/// <summary>
/// Compiles a training program, runs it in a child process with the track's wall-clock limit, times that process
/// itself, has the harness evaluate the model the program saved (<see cref="Evaluation"/>), and judges the run: ok,
/// missed_target, compile_error, crashed, timeout, diverged, no_metrics or invalid. The program's own results.json
/// and log lines are kept for curves and comparison; no number the verdict or the score uses comes from them.
/// Every file stays in OutDir: program.cs (the source as run), program.dll, stdout.txt, stderr.txt, log.txt,
/// results.json, model.safetensors, and the evaluation processes' output (eval-*.txt, probe-*.txt).
/// </summary>
public static partial class ProgramRunner
{
    /// <summary>Every verdict a stored run can have. The last three are the harness's, not the program's: a run
    /// still going (or whose runner died), a run stopped by the user or its runner, and data the harness could
    /// not use; they say nothing about the program and are left out of its score. (`speedrun agent` also stores
    /// `no_program` for a final run of a session that produced no program: nothing ran, and it scores 0.)</summary>
    public static readonly string[] Verdicts =
        ["ok", "missed_target", "compile_error", "crashed", "timeout", "diverged", "no_metrics", "invalid",
         Running, Interrupted, DataError];

    public const string Running = "running";
    public const string Interrupted = "interrupted";
    public const string DataError = "data_error";

    /// <summary>Whether a run with this verdict is the program's doing and so counts in its task's score.</summary>
    public static bool IsScored(string verdict) => verdict is not (Running or Interrupted or DataError);

    /// <summary>A gap between the harness's time and the program's own train_time worth reporting: more than this
    /// fraction of the harness's time, and more than <see cref="ClockGapFloor"/>.</summary>
    public const double ClockGapFraction = 0.25;
    public static readonly TimeSpan ClockGapFloor = TimeSpan.FromSeconds(30);

    /// <summary>How much a run may write into its run folder (model, logs, anything else) before it is stopped;
    /// <see cref="MaxRunFolderVar"/> (MiB) overrides it.</summary>
    public static long MaxRunFolderBytes =>
        long.TryParse(Environment.GetEnvironmentVariable(MaxRunFolderVar), out long mib) && mib > 0 ? mib << 20 : 16L << 30;

    public const string MaxRunFolderVar = "SPEEDRUN_RUN_FOLDER_MAX_MB";

    public static ProgramRunOutcome Run(ProgramRunRequest request, RunnerHosts hosts,
        Action<string>? onStdout = null, Action<string>? onStderr = null, CancellationToken cancel = default)
    {
        // The children run in the run folder (and, sandboxed, see only full paths): a relative path would name
        // another file there.
        request = request with
        {
            ProgramPath = Path.GetFullPath(request.ProgramPath),
            TrackFile = Path.GetFullPath(request.TrackFile),
            OutDir = Path.GetFullPath(request.OutDir),
            Data = new DataPatterns(ShardSet.FullPattern(request.Data.TrainFiles), ShardSet.FullPattern(request.Data.ValFiles)),
        };
        Directory.CreateDirectory(request.OutDir);
        // One timed run per device: compiling, training and evaluating another run beside this one would time both.
        using var deviceLock = DeviceLock.Acquire(request.UsesGpu ? "cuda" : "cpu", Path.GetFileName(Path.GetFullPath(request.OutDir)), onStderr, cancel);
        return RunLocked(request, hosts, onStdout, onStderr, cancel);
    }

    static ProgramRunOutcome RunLocked(ProgramRunRequest request, RunnerHosts hosts,
        Action<string>? onStdout, Action<string>? onStderr, CancellationToken cancel)
    {
        var source = Path.Combine(request.OutDir, "program.cs");
        File.Copy(request.ProgramPath, source, overwrite: true);
        // The data is the harness's: a shard it cannot use ends the run before the program starts, and the
        // verdict blames the data, not the program.
        if (CheckData(request.Data) is { Count: > 0 } dataProblems)
        {
            File.WriteAllLines(Path.Combine(request.OutDir, "data-errors.txt"), dataProblems);
            return new ProgramRunOutcome(DataError, null, ProgramCompiler.Result.NotCompiled, null, request.OutDir, dataProblems);
        }
        var compile = ProgramCompiler.Compile(source, Path.Combine(request.OutDir, "program.dll"));
        if (!compile.Success)
        {
            File.WriteAllLines(Path.Combine(request.OutDir, "compile-errors.txt"), compile.Errors.Select(e => e.ToString()));
            return new ProgramRunOutcome("compile_error", null, compile, null, request.OutDir,
                compile.Errors.Select(e => e.ToString()).ToList());
        }

        // The program's own validation reads the monitor tokens, never the scored ones.
        string monitor;
        try { monitor = MonitorSet.Write(request.Data.ValFiles, request.Track.ValTokens, request.OutDir); }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            var why = $"{e.Message} (a run needs twice the track's {request.Track.ValTokens} validation tokens plus 2: the scored ones, " +
                      "then as many for the program's own validation)";
            File.WriteAllLines(Path.Combine(request.OutDir, "data-errors.txt"), [why]);
            return new ProgramRunOutcome(DataError, null, compile, null, request.OutDir, [why]);
        }
        var env = new RunEnvironment(request.Data.TrainFiles, monitor, request.Track.ValTokens,
            request.Track.Name, request.TrackFile, request.Device, request.Seed, request.OutDir, source);
        var limit = request.TimeLimit ?? TimeSpan.FromMinutes(request.Track.TimeLimitMinutes);
        var resultsPath = Path.Combine(request.OutDir, "results.json");
        var modelPath = Path.Combine(request.OutDir, Checkpoint.FileName);
        foreach (var stale in new[] { resultsPath, modelPath }) if (File.Exists(stale)) File.Delete(stale); // only this run's files count

        var sandbox = Sandbox.Current;
        var (host, variables) = (MemoryLimit.Wrap(hosts.Training, request.UsesGpu), (IEnumerable<KeyValuePair<string, string>>)env.ToVariables());
        if (sandbox is not null)
        {
            var visible = new[] { Path.GetFullPath(request.TrackFile) }
                .Concat(ShardSet.Resolve(request.Data.TrainFiles, RunEnvironment.TrainFilesVar).Files.Select(Path.GetFullPath)).ToList();
            var outDir = Path.GetFullPath(request.OutDir);
            host = sandbox.Wrap(host, new SandboxSpec(visible, [outDir], outDir, Home: outDir, env.ToVariables(), Gpu: request.UsesGpu));
            variables = [];
        }
        using var folderWatch = new FolderWatch(request.OutDir, MaxRunFolderBytes);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel, folderWatch.Exceeded);
        var probe = RunConditions.Probe.Start();
        var child = ChildProcess.Run(host, [compile.AssemblyPath!], variables, limit,
            Path.Combine(request.OutDir, "stdout.txt"), Path.Combine(request.OutDir, "stderr.txt"),
            onStdout, onStderr, stop.Token);
        var conditions = probe.Stop(child.Elapsed);
        if (folderWatch.Exceeded.IsCancellationRequested && !cancel.IsCancellationRequested)
            return new ProgramRunOutcome("invalid", null, compile, child, request.OutDir,
                [$"wrote more than {MaxRunFolderBytes >> 20} MiB into its run folder (the limit, {MaxRunFolderVar}); the run was stopped"])
                { Sandbox = sandbox?.Version ?? Sandbox.None, Conditions = conditions };

        var (verdict, result, problems) = JudgeTraining(request, child, resultsPath, modelPath);
        if (conditions is { UnderLoad: true })
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"note: other work kept {conditions.OtherCores:F2} CPU cores busy while this program trained; its time may be slow"));
        var sandboxName = sandbox?.Version ?? Sandbox.None;
        if (verdict is not null || cancel.IsCancellationRequested)
            return new ProgramRunOutcome(verdict ?? Interrupted, result, compile, child, request.OutDir, problems) { Sandbox = sandboxName, Conditions = conditions };

        onStderr?.Invoke($"harness: the training process ended after {child.Elapsed.TotalSeconds:F1} s; evaluating its saved model on " +
                        $"{request.Track.ValTokens:N0} validation tokens");
        EvaluationOutcome evaluation;
        try
        {
            evaluation = Evaluation.Run(new EvaluationRequest(compile.AssemblyPath!, modelPath, request.Track, request.TrackFile,
                request.Data, request.Device, request.OutDir, TimeSpan.FromMinutes(request.Track.TimeLimitMinutes)), hosts.Evaluation, sandbox, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            problems.Add("stopped during the evaluation");
            return new ProgramRunOutcome(Interrupted, result, compile, child, request.OutDir, problems) { Sandbox = sandboxName, Conditions = conditions };
        }
        problems.AddRange(evaluation.Problems);
        if (evaluation.Verdict is { } failed)
            return new ProgramRunOutcome(failed, result, compile, child, request.OutDir, problems, evaluation) { Sandbox = sandboxName, Conditions = conditions };

        // The program's own time, compared with the harness's: a large gap is worth a look, never a verdict. (Its own
        // val_loss is on the monitor tokens, another sample: no comparison.)
        if (result is not null)
        {
            var gap = child.Elapsed - TimeSpan.FromMilliseconds(result.TrainTimeMs);
            if (gap > ClockGapFloor && gap > child.Elapsed * ClockGapFraction)
                problems.Add($"note: the harness timed the training process at {child.Elapsed.TotalSeconds:F1} s, the program's own " +
                             $"train_time says {result.TrainTimeMs / 1000:F1} s (start-up, untimed steps and validation make the difference)");
        }
        bool reached = evaluation.ValLoss <= request.Track.TargetValLoss;
        return new ProgramRunOutcome(reached ? "ok" : "missed_target", result, compile, child, request.OutDir, problems, evaluation)
            { Sandbox = sandboxName, Conditions = conditions };
    }

    /// <summary>Every train and val shard's header and length, checked; one problem per unusable pattern or file.</summary>
    public static List<string> CheckData(DataPatterns data)
    {
        var problems = new List<string>();
        foreach (var (pattern, what) in new[] { (data.TrainFiles, "train"), (data.ValFiles, "val") })
        {
            ShardSet set;
            try { set = ShardSet.Resolve(pattern, $"{what} shard"); }
            catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
            {
                problems.Add(e.Message);
                continue;
            }
            foreach (var file in set.Files)
            {
                try { ShardFormat.ReadHeader(file); }
                catch (Exception e) when (e is ShardFormatException or IOException or UnauthorizedAccessException)
                {
                    problems.Add(e is ShardFormatException ? e.Message : $"{file}: {e.Message}");
                }
            }
        }
        return problems;
    }

    [GeneratedRegex(@"^step:(\d+)/(\d+) val_loss:([-+0-9.eE]+|NaN|nan|inf|-inf|∞|-∞) train_time:(\d+)ms step_avg:([-+0-9.eE]+)ms$")]
    private static partial Regex ValLine();

    /// <summary>One validation line of the speedrun's log format.</summary>
    public sealed record ValLogLine(int Step, int Total, double ValLoss, double TrainTimeMs);

    public static IEnumerable<ValLogLine> ParseValLines(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            var m = ValLine().Match(line.Trim());
            if (!m.Success) continue;
            double.TryParse(m.Groups[3].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double loss);
            if (!double.IsFinite(loss) && !m.Groups[3].Value.Any(char.IsDigit)) loss = double.NaN;
            yield return new ValLogLine(int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), loss,
                double.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The verdict on the training process alone, or null when it saved a model for the harness to evaluate.</summary>
    static (string? Verdict, RunResult? Result, List<string> Problems) JudgeTraining(
        ProgramRunRequest request, ChildOutcome child, string resultsPath, string modelPath)
    {
        var problems = new List<string>();
        RunResult? result = null;
        if (File.Exists(resultsPath))
        {
            try { result = RunResult.Read(resultsPath); }
            catch (Exception e) { problems.Add($"results.json unreadable: {e.Message}"); }
        }
        if (child.TimedOut)
        {
            problems.Add($"ran past the {request.TimeLimit?.TotalMinutes ?? request.Track.TimeLimitMinutes} minute limit");
            return ("timeout", result, problems);
        }
        if (result?.Status == "diverged") return ("diverged", result, problems);
        if (child.ExitCode != 0)
        {
            problems.Add($"exited with code {child.ExitCode}");
            return ("crashed", result, problems);
        }
        if (!File.Exists(modelPath))
        {
            problems.Add($"no {Checkpoint.FileName}: a training program ends with ctx.SaveModel(model), and the harness scores that model");
            return ("no_metrics", result, problems);
        }
        try { Checkpoint.ReadHeader(modelPath); }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            problems.Add(e.Message);
            return ("invalid", result, problems);
        }
        return (null, result, problems);
    }
}
