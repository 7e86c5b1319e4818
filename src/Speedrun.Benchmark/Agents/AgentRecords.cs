namespace Speedrun.Benchmark.Agents;

/// <summary>One `speedrun agent` invocation as the store keeps it (table agent_sessions). Holds no API key: only the
/// name of the variable it was read from.</summary>
public sealed record AgentSessionRecord
{
    public required string Id { get; init; }
    public required int Task { get; init; }
    public required string Hints { get; init; }
    public required string Model { get; init; }
    /// <summary>The endpoint without credentials or query ("default" for the provider's own).</summary>
    public required string Endpoint { get; init; }
    public required string Scaffold { get; init; }
    /// <summary>The label the final runs are stored with (model@scaffold); search runs add ":search".</summary>
    public required string Agent { get; init; }
    public required string Track { get; init; }
    /// <summary>The budgets and knobs, as JSON.</summary>
    public required string Settings { get; init; }
    public required string WorkspaceId { get; init; }
    public required string Dir { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>running, finished, no_program (no node produced a program), interrupted, failed.</summary>
    public string Status { get; init; } = "running";
    public int? BestNode { get; init; }
    /// <summary>Why the search stopped (which budget ran out), in words.</summary>
    public string? StopReason { get; init; }
}

/// <summary>One request to the model (table agent_calls): a retried request leaves one row per try.</summary>
public sealed record ModelCallRecord
{
    public long Id { get; init; }
    public required string Session { get; init; }
    /// <summary>The solution-tree node this call was made for, and that node's parent (null for drafts).</summary>
    public required int Node { get; init; }
    public int? ParentNode { get; init; }
    public required string Stage { get; init; }
    /// <summary>1 for the first try, 2 for the first retry, ...</summary>
    public required int Try { get; init; }
    public required string Prompt { get; init; }
    public string? Response { get; init; }
    public long? TokensIn { get; init; }
    public long? TokensOut { get; init; }
    public required double LatencySeconds { get; init; }
    /// <summary>Null on success; else what failed ("HTTP 429: ...", "timed out after 30 s").</summary>
    public string? Error { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
}

/// <summary>One node of the search and what became of it (table agent_attempts), or one of the final runs.</summary>
public sealed record AgentAttemptRecord
{
    public long Id { get; init; }
    public required string Session { get; init; }
    /// <summary>The node (1, 2, ...); for a final run, the best node it ran, or 0 when no node produced a program.</summary>
    public required int Node { get; init; }
    public int? ParentNode { get; init; }
    /// <summary>draft, debug, improve, or final (a final run of the best node).</summary>
    public required string Stage { get; init; }
    /// <summary>The successful model call that produced the node (null for final runs and failed calls).</summary>
    public long? CallId { get; init; }
    /// <summary>program, diff or none.</summary>
    public required string ReplyFormat { get; init; }
    public string? Source { get; init; }
    public string? SourceSha256 { get; init; }
    /// <summary>A run verdict, or no_program / patch_failed / model_error when nothing could be run; 'running' while
    /// its run goes (a session killed then leaves it so until `--resume` completes it or marks it 'interrupted').</summary>
    public required string Verdict { get; init; }
    /// <summary>The runs row of the timed run, when there was one.</summary>
    public long? RunId { get; init; }
    public int? Seed { get; init; }
    public double? TrainTimeMs { get; init; }
    public double? ValLoss { get; init; }
    /// <summary>What went wrong, as the model was told (compile errors, the log's tail, the patch error).</summary>
    public string? Problem { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
}
