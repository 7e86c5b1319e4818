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
    TimeSpan? TimeLimit = null, string? ExpectedFingerprint = null);

/// <summary>The outcome of one run: a verdict, the program's own results (when it wrote them), and why.</summary>
public sealed record ProgramRunOutcome(
    string Verdict, RunResult? Result, ProgramCompiler.Result Compile, ChildOutcome? Child, string OutDir,
    IReadOnlyList<string> Problems);

/// <summary>
/// Compiles a training program, runs it in a child process with the track's wall-clock limit, and judges the
/// run: ok, missed_target, compile_error, crashed, timeout, diverged, no_metrics or invalid. The verdict
/// trusts the run context's results.json only after cross-checking it with the log lines and the contract.
/// Every file stays in OutDir: program.cs (the source as run), program.dll, stdout.txt, stderr.txt,
/// log.txt, results.json.
/// </summary>
public static partial class ProgramRunner
{
    /// <summary>Every verdict a stored run can have. The last three are the harness's, not the program's: a run
    /// still going (or whose runner died), a run stopped by the user or its runner, and data the harness could
    /// not use; they say nothing about the program and are left out of its score.</summary>
    public static readonly string[] Verdicts =
        ["ok", "missed_target", "compile_error", "crashed", "timeout", "diverged", "no_metrics", "invalid",
         Running, Interrupted, DataError];

    public const string Running = "running";
    public const string Interrupted = "interrupted";
    public const string DataError = "data_error";

    /// <summary>Whether a run with this verdict is the program's doing and so counts in its task's score.</summary>
    public static bool IsScored(string verdict) => verdict is not (Running or Interrupted or DataError);

    public static ProgramRunOutcome Run(ProgramRunRequest request, ProgramHost host,
        Action<string>? onStdout = null, Action<string>? onStderr = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(request.OutDir);
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

        var env = new RunEnvironment(request.Data.TrainFiles, request.Data.ValFiles, request.Track.ValTokens,
            request.Track.Name, request.TrackFile, request.Device, request.Seed, request.OutDir, source);
        var limit = request.TimeLimit ?? TimeSpan.FromMinutes(request.Track.TimeLimitMinutes);
        var resultsPath = Path.Combine(request.OutDir, "results.json");
        if (File.Exists(resultsPath)) File.Delete(resultsPath); // only this run's results count
        var child = ChildProcess.Run(host, compile.AssemblyPath!, env.ToVariables(), limit,
            Path.Combine(request.OutDir, "stdout.txt"), Path.Combine(request.OutDir, "stderr.txt"),
            onStdout, onStderr, cancel);

        var (verdict, result, problems) = Judge(request, env, child, resultsPath, Path.Combine(request.OutDir, "stdout.txt"));
        return new ProgramRunOutcome(verdict, result, compile, child, request.OutDir, problems);
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

    static (string Verdict, RunResult? Result, List<string> Problems) Judge(
        ProgramRunRequest request, RunEnvironment env, ChildOutcome child, string resultsPath, string stdoutPath)
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
        var valLines = ParseValLines(File.Exists(stdoutPath) ? File.ReadLines(stdoutPath) : []).ToList();
        if (result is null || valLines.Count == 0 || result.Status == "running")
        {
            problems.Add(result is null ? "no results.json" : valLines.Count == 0 ? "no validation line in the log" : "results.json never finalised");
            return ("no_metrics", result, problems);
        }
        // The contract: the program must use the data and validation budget it was given.
        if (result.ValTokens != env.ValTokens) problems.Add($"validated on {result.ValTokens} tokens, not SPEEDRUN_VAL_TOKENS={env.ValTokens}");
        if (result.TrainFiles != env.TrainFiles) problems.Add($"trained on '{result.TrainFiles}', not SPEEDRUN_TRAIN_FILES='{env.TrainFiles}'");
        if (result.ValFiles != env.ValFiles) problems.Add($"validated on '{result.ValFiles}', not SPEEDRUN_VAL_FILES='{env.ValFiles}'");
        if (result.Seed != env.Seed) problems.Add($"reports seed {result.Seed}, not {env.Seed}");
        if (request.ExpectedFingerprint is { } fp && result.Fingerprint != fp)
            problems.Add($"reports hardware '{result.Fingerprint}' but ran on '{fp}'");
        // The log and results.json must tell the same story.
        var last = valLines[^1];
        if (Math.Abs(last.ValLoss - result.ValLoss) > 5e-5 || Math.Abs(last.TrainTimeMs - result.TrainTimeMs) > 1.0)
            problems.Add($"results.json (val_loss {result.ValLoss:F4}, {result.TrainTimeMs:F0} ms) disagrees with the last log line " +
                         $"(val_loss {last.ValLoss:F4}, {last.TrainTimeMs:F0} ms)");
        if (problems.Count > 0) return ("invalid", result, problems);
        bool reached = result.ValLoss <= request.Track.TargetValLoss;
        if (reached != (result.Status == "ok"))
        {
            problems.Add($"results.json says '{result.Status}' but val_loss {result.ValLoss:F4} vs target {request.Track.TargetValLoss}");
            return ("invalid", result, problems);
        }
        return (reached ? "ok" : "missed_target", result, problems);
    }
}
