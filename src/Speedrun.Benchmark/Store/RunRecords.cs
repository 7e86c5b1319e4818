using System.Text;
using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Tasks;
using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Store;

/// <summary>What a stored run was: a calibration of a record, or an agent's attempt at a task with some hints.</summary>
public sealed record RunLabel(string Kind, int Record, string? Hints = null, string? Agent = null)
{
    public const string Calibration = "calibration";
    public const string AgentKind = "agent";

    public static RunLabel CalibrationOf(int record) => new(Calibration, record);

    public static RunLabel AgentRun(int task, string hints, string? agent) => new(AgentKind, task, hints, agent);
}

/// <summary>Turns a finished run (its folder and the runner's verdict) into a row of the results store.</summary>
public static class RunRecords
{
    /// <summary>
    /// The store row for <paramref name="outcome"/>: the source as run, the program's output (stdout, then any
    /// stderr lines other than progress records), results.json as written, the problems the runner found, and
    /// and the hardware fingerprint the runner measured itself (<paramref name="machineFingerprint"/>; a program's
    /// own claim in results.json is only cross-checked, never stored).
    /// </summary>
    public static RunRecord FromOutcome(string uid, RunLabel label, string track, int seed, string? device,
        ProgramRunOutcome outcome, Func<string> machineFingerprint, DateTimeOffset startedAt, TimeSpan duration)
    {
        var dir = outcome.OutDir;
        var sourceBytes = File.ReadAllBytes(Path.Combine(dir, "program.cs"));
        var resultsPath = Path.Combine(dir, "results.json");
        var result = outcome.Result;
        var validations = result?.Validations
            ?? ProgramRunner.ParseValLines(ReadLines(Path.Combine(dir, "stdout.txt")))
                .Select(v => new ValPoint(v.Step, v.ValLoss, v.TrainTimeMs)).ToList();
        return new RunRecord
        {
            Uid = uid,
            Kind = label.Kind,
            Record = label.Record,
            Hints = label.Hints,
            Agent = label.Agent,
            Track = track,
            Seed = seed,
            Verdict = outcome.Verdict,
            ValLoss = outcome.ValLoss,
            TrainTimeMs = outcome.TrainTimeMs,
            ProgramValLoss = result?.ValLoss,
            ProgramTrainTimeMs = result?.TrainTimeMs,
            Sandbox = outcome.Sandbox,
            Conditions = outcome.Conditions?.ToJson(),
            NSteps = result?.NSteps,
            StepAvgMs = result?.StepAvgMs,
            Fingerprint = machineFingerprint(),
            Device = result?.Device ?? device ?? "auto",
            SourceSha256 = TaskManifest.Sha256Hex(sourceBytes),
            Source = Encoding.UTF8.GetString(sourceBytes),
            Log = Log(dir),
            ResultsJson = File.Exists(resultsPath) ? File.ReadAllText(resultsPath) : null,
            Problems = outcome.Problems.Count == 0 ? null : string.Join("\n", outcome.Problems),
            OutDir = Path.GetFullPath(dir),
            StartedAt = startedAt,
            DurationSeconds = duration.TotalSeconds,
            Validations = validations,
        };
    }

    /// <summary>The program's output: stdout, then stderr without the runner's progress records; for a program
    /// that did not compile, the compiler's errors; for a run stopped by unusable data, the data's problems.</summary>
    static string? Log(string dir)
    {
        var stdout = Path.Combine(dir, "stdout.txt");
        if (!File.Exists(stdout))
            return new[] { "compile-errors.txt", "data-errors.txt" }.Select(f => Path.Combine(dir, f)).Where(File.Exists)
                .Select(File.ReadAllText).FirstOrDefault();
        var log = new StringBuilder(File.ReadAllText(stdout));
        var stderr = ReadLines(Path.Combine(dir, "stderr.txt")).Where(l => !l.StartsWith("@progress ", StringComparison.Ordinal)).ToList();
        if (stderr.Count > 0)
        {
            log.Append("--- stderr ---\n");
            foreach (var line in stderr) log.Append(line).Append('\n');
        }
        return log.ToString();
    }

    static IEnumerable<string> ReadLines(string path) => File.Exists(path) ? File.ReadLines(path) : [];
}
