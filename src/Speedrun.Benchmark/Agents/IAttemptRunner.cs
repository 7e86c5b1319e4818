namespace Speedrun.Benchmark.Agents;

/// <summary>A timed run of one program, as `speedrun run` times and stores it.</summary>
/// <param name="RunId">Its row in the store's runs table.</param>
/// <param name="Log">The program's output, or the compiler's errors.</param>
public sealed record AttemptRun(long RunId, string Verdict, double? TrainTimeMs, double? ValLoss, string? Log, string? Problems, string? OutDir);

/// <summary>
/// Times a program through the benchmark's own path (workspace label, sandbox, harness clock, evaluation, a row in the
/// store). The CLI implements it with the same session `speedrun run` uses; tests of the scaffolds alone may fake it.
/// </summary>
public interface IAttemptRunner
{
    /// <summary>Runs <paramref name="source"/> for node <paramref name="node"/> (search runs are stored with the
    /// search label, final ones with the agent's own); null when the user interrupted it.</summary>
    AttemptRun? Run(string source, int node, int seed, bool final, CancellationToken cancel);

    /// <summary>Record N's reference time on this machine and track, when calibrated (shown to improve nodes).</summary>
    double? StartReferenceMs { get; }

    /// <summary>The track's target validation loss.</summary>
    double TargetValLoss { get; }
}

/// <summary>Where a session's calls and attempts go: the store and the transcript.</summary>
public interface IAgentJournal
{
    long AddCall(ModelCallRecord call);
    long AddAttempt(AgentAttemptRecord attempt);
    /// <summary>A line or paragraph for the transcript only (progress, decisions).</summary>
    void Note(string markdown);
}
