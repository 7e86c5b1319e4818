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
    /// search label, final ones with the agent's own); null when the user interrupted it. <paramref name="started"/>
    /// gets the runs row's id as soon as the row exists (before the program starts), so that an attempt can point at
    /// its run even if this process dies during it.</summary>
    AttemptRun? Run(string source, int node, int seed, bool final, CancellationToken cancel, Action<long>? started = null);

    /// <summary>Stores a final run that never ran because the session ended without any program: a runs row under the
    /// agent's own label with verdict <see cref="AgentLoop.NoProgram"/> and <paramref name="why"/> as its problem, so
    /// that the score counts it (FSR 0) instead of having no cell at all.</summary>
    AttemptRun NoProgram(int seed, string why);

    /// <summary>Record N's reference time on this machine and track, when calibrated (shown to improve nodes).</summary>
    double? StartReferenceMs { get; }

    /// <summary>The track's target validation loss.</summary>
    double TargetValLoss { get; }
}

/// <summary>Where a session's calls and attempts go: the store and the transcript.</summary>
public interface IAgentJournal
{
    long AddCall(ModelCallRecord call);
    /// <summary>Adds an attempt row; one whose run is about to start is added with verdict 'running' and completed
    /// with <see cref="UpdateAttempt"/> when the run ends.</summary>
    long AddAttempt(AgentAttemptRecord attempt);
    /// <summary>Completes the attempt row <paramref name="attempt"/>.Id: verdict, run, numbers, problem.</summary>
    void UpdateAttempt(AgentAttemptRecord attempt);
    /// <summary>Links attempt <paramref name="attempt"/> to the runs row its program is being timed in.</summary>
    void AttemptRunStarted(long attempt, long run);
    /// <summary>A line or paragraph for the transcript only (progress, decisions).</summary>
    void Note(string markdown);
}
