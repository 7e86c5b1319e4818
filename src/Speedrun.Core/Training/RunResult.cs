using System.Text.Json;
using System.Text.Json.Serialization;

namespace Speedrun.Core.Training;

/// <summary>
/// What a training run reports, written by the run context as results.json (typed; the runner reads
/// this file and cross-checks it against the log lines, never asking anyone to read a log).
/// </summary>
public sealed record RunResult
{
    /// <summary>"ok", "missed_target", "diverged" or "running" (set by the run context; the runner may
    /// override with crashed/timeout/invalid/no_metrics when the program never finished).</summary>
    public required string Status { get; init; }
    public required int NSteps { get; init; }
    /// <summary>The last validation loss (NaN when none was measured).</summary>
    public required double ValLoss { get; init; }
    public required double TrainTimeMs { get; init; }
    public required double StepAvgMs { get; init; }
    public required string Device { get; init; }
    /// <summary>Device model, driver and engine version: times compare only within one fingerprint.</summary>
    public required string Fingerprint { get; init; }
    public required int Seed { get; init; }
    public required string Track { get; init; }
    public required double TargetValLoss { get; init; }
    public required long ValTokens { get; init; }
    public required string Program { get; init; }
    /// <summary>The data patterns the program trained and validated on (the runner checks them).</summary>
    public required string TrainFiles { get; init; }
    public required string ValFiles { get; init; }
    /// <summary>Every validation: step, loss, train_time at that point.</summary>
    public required IReadOnlyList<ValPoint> Validations { get; init; }
    public DateTimeOffset FinishedAt { get; init; } = DateTimeOffset.UtcNow;

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static RunResult Read(string path) =>
        JsonSerializer.Deserialize<RunResult>(File.ReadAllText(path), Json)
        ?? throw new InvalidDataException($"{path}: empty results file");

    /// <summary>Writes atomically (temp file, then rename): a reader never sees half a file.</summary>
    public void Write(string path)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
        File.Move(temp, path, overwrite: true);
    }
}

public sealed record ValPoint(int Step, double ValLoss, double TrainTimeMs);
