using Speedrun.Core.Training;

namespace Speedrun.Benchmark.Store;

/// <summary>
/// One row of the results store: a timed run of a training program, with its verdict, its numbers, the
/// hardware fingerprint, and the source, log and results it produced (kept forever; nothing is overwritten).
/// </summary>
public sealed record RunRecord
{
    public long Id { get; init; }
    /// <summary>A unique id for the run (also its folder name).</summary>
    public required string Uid { get; init; }
    /// <summary>"calibration" (a reference record program) or "agent" (a task workspace's program).</summary>
    public required string Kind { get; init; }
    /// <summary>The record whose program ran (calibration), or the task's start record N (agent).</summary>
    public required int Record { get; init; }
    /// <summary>Hint setting of an agent run ("none", "1", "1,2", ...); null for calibrations.</summary>
    public string? Hints { get; init; }
    public string? Agent { get; init; }
    public required string Track { get; init; }
    public required int Seed { get; init; }
    public required string Verdict { get; init; }
    /// <summary>The harness's evaluation of the saved model (schema 5 on; the program's own last val_loss before).</summary>
    public double? ValLoss { get; init; }
    /// <summary>The training process's wall time measured by the harness (schema 5 on; the program's own train_time before).</summary>
    public double? TrainTimeMs { get; init; }
    /// <summary>The program's own train_time (its clock's rule), kept for comparison; never scored.</summary>
    public double? ProgramTrainTimeMs { get; init; }
    /// <summary>The program's own last validation loss, kept for comparison; never scored.</summary>
    public double? ProgramValLoss { get; init; }
    /// <summary>The sandbox the program ran in ("bubblewrap 0.8.0"), "none" for an unsandboxed run, null for a run that
    /// never started its program or was stored before schema 5.</summary>
    public string? Sandbox { get; init; }
    /// <summary>What else the machine did while the program trained (<see cref="Runs.RunConditions"/> as JSON); null for
    /// runs that never trained or were stored before schema 6.</summary>
    public string? Conditions { get; init; }
    /// <summary>The `speedrun run` or `calibrate` invocation the run belonged to; null before schema 7.</summary>
    public string? Session { get; init; }
    public int? NSteps { get; init; }
    public double? StepAvgMs { get; init; }
    public required string Fingerprint { get; init; }
    public string? Device { get; init; }
    public required string SourceSha256 { get; init; }
    /// <summary>SHA-256 of the track file the run used; null in rows stored before schema 3.</summary>
    public string? TrackSha256 { get; init; }
    /// <summary>For an agent run of task N: the SHA-256 of records N's and N+1's programs as the catalog held them
    /// when the run was timed ("shaN,shaN+1"), the programs whose calibrations it may be scored against. Null for
    /// calibrations (their own program is <see cref="SourceSha256"/>) and for rows stored before schema 3.</summary>
    public string? ReferenceSha256 { get; init; }
    public required string Source { get; init; }
    public string? Log { get; init; }
    public string? ResultsJson { get; init; }
    public string? Problems { get; init; }
    public string? OutDir { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public double DurationSeconds { get; init; }
    public IReadOnlyList<ValPoint> Validations { get; init; } = [];
}
