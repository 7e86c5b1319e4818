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
    /// <summary>Training steps completed.</summary>
    public required int NSteps { get; init; }
    /// <summary>The last validation loss (NaN when none was measured).</summary>
    public required double ValLoss { get; init; }
    /// <summary>train_time by the program's clock (TrainClock's rule), in milliseconds.</summary>
    public required double TrainTimeMs { get; init; }
    /// <summary>train_time over the timed steps.</summary>
    public required double StepAvgMs { get; init; }
    /// <summary>The device's name.</summary>
    public required string Device { get; init; }
    /// <summary>Device model, driver and engine version: times compare only within one fingerprint.</summary>
    public required string Fingerprint { get; init; }
    /// <summary>The run's seed.</summary>
    public required int Seed { get; init; }
    /// <summary>The track's name.</summary>
    public required string Track { get; init; }
    /// <summary>The track's target.</summary>
    public required double TargetValLoss { get; init; }
    /// <summary>Validation tokens per evaluation.</summary>
    public required long ValTokens { get; init; }
    /// <summary>The program's folder name.</summary>
    public required string Program { get; init; }
    /// <summary>The data patterns the program trained and validated on (the runner checks them).</summary>
    public required string TrainFiles { get; init; }
    /// <summary>The validation shards' pattern.</summary>
    public required string ValFiles { get; init; }
    /// <summary>Every validation: step, loss, train_time at that point.</summary>
    public required IReadOnlyList<ValPoint> Validations { get; init; }
    /// <summary>When the file was written.</summary>
    public DateTimeOffset FinishedAt { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>snake_case JSON, NaN allowed.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads a results.json.</summary>
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

/// <summary>One validation: the step, the loss and train_time at that point.</summary>
/// <param name="Step">Steps done when it ran.</param>
/// <param name="ValLoss">Mean loss over the validation tokens.</param>
/// <param name="TrainTimeMs">train_time so far.</param>
public sealed record ValPoint(int Step, double ValLoss, double TrainTimeMs);
