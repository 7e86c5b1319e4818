using System.Globalization;
using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Agents;

/// <summary>The next node of a stopped session, as far as it got: its stage and parent as the model was asked, the
/// reply when one was recorded (used instead of asking again), and how many tries were recorded before.</summary>
public sealed record PendingCall(int Node, string Stage, int? Parent, ModelAnswer? Answer, int TriesBefore);

/// <summary>What a stopped session had done, rebuilt from the store for <see cref="AgentLoop"/> to go on from.</summary>
public sealed record SessionProgress
{
    /// <summary>The search's nodes, 1..n, each with its verdict (an attempt cut off by the interruption: 'interrupted').</summary>
    public required IReadOnlyList<SolutionNode> Nodes { get; init; }
    /// <summary>Wall time the search had used: each node's span, from its first model call to its last recorded moment.</summary>
    public required TimeSpan SearchTime { get; init; }
    /// <summary>Model calls recorded for node n+1, when there are any.</summary>
    public PendingCall? Pending { get; init; }
    /// <summary>The final runs' attempts already stored, repaired ones included.</summary>
    public required IReadOnlyList<AgentAttemptRecord> Finals { get; init; }
    /// <summary>Attempts that were still 'running' when the session stopped, as they are now: completed from their run
    /// when it had finished, else 'interrupted'. The caller stores them and writes them to the transcript.</summary>
    public required IReadOnlyList<AgentAttemptRecord> Repaired { get; init; }

    public int Steps => Nodes.Count;
    public int Runs => Nodes.Count(n => n.RunId is not null);
}

/// <summary>
/// Rebuilds a stopped session (killed, or stopped with Ctrl-C) from its rows: the solution tree from its attempts (each
/// node's parent, debug depth and the program it was shown follow from the stored nodes), the budgets spent (a node is a
/// model turn, a node with a runs row a timed run, and the wall time is the sum of the nodes' spans, so the time a
/// session lay dead is not counted), the model calls of a node that had not been stored yet, and the final runs done.
/// An attempt still 'running' is completed from its runs row when that run had finished, and otherwise becomes
/// 'interrupted': it stays one attempt and one spent run, never run again silently and never counted twice.
/// </summary>
public static class AgentResume
{
    /// <param name="lastWrite">The newest write time of the files in a run folder, or null (a killed run's folder says
    /// until when it ran).</param>
    public static SessionProgress Rebuild(string startProgram, IReadOnlyList<ModelCallRecord> calls, IReadOnlyList<AgentAttemptRecord> attempts,
        Func<long, RunRecord?> runOf, Func<string, DateTimeOffset?> lastWrite)
    {
        var repaired = new List<AgentAttemptRecord>();
        var rows = new List<AgentAttemptRecord>();
        foreach (var a in attempts)
        {
            if (a.Verdict != ProgramRunner.Running) { rows.Add(a); continue; }
            var fixedRow = Repair(a, a.RunId is { } id ? runOf(id) : null);
            repaired.Add(fixedRow);
            rows.Add(fixedRow);
        }

        var search = rows.Where(a => a.Stage != AgentLoop.FinalStage).OrderBy(a => a.Node).ToList();
        var nodes = new List<SolutionNode>();
        var spent = TimeSpan.Zero;
        foreach (var a in search)
        {
            if (a.Node != nodes.Count + 1)
                throw new InvalidDataException($"agent session {a.Session}: its attempts are nodes {string.Join(", ", search.Select(s => s.Node))}, " +
                                               "not one each of 1, 2, 3, ...; the store was edited by hand or is damaged, so it cannot be resumed.");
            var parent = a.ParentNode is { } p && p >= 1 && p <= nodes.Count ? nodes[p - 1] : null;
            if (a.ParentNode is not null && parent is null)
                throw new InvalidDataException($"agent session {a.Session}: node {a.Node}'s parent {a.ParentNode} is not an earlier node; it cannot be resumed.");
            nodes.Add(new SolutionNode
            {
                Id = a.Node, Parent = a.ParentNode, Stage = a.Stage, DebugDepth = a.Stage == AgentLoop.DebugStage ? parent!.DebugDepth + 1 : 0,
                BaseSource = AgentLoop.BaseSourceOf(a.Stage, parent, startProgram), Source = a.Source, Verdict = a.Verdict,
                TrainTimeMs = a.TrainTimeMs, ValLoss = a.ValLoss, RunId = a.RunId, Problem = a.Problem,
            });
            var nodeCalls = calls.Where(c => c.Node == a.Node).ToList();
            var run = a.RunId is { } r ? runOf(r) : null;
            var start = nodeCalls.Count > 0 ? nodeCalls.Min(c => c.StartedAt) : a.CreatedAt;
            var end = new[] { (DateTimeOffset?)a.CreatedAt, run is null ? null : run.StartedAt + TimeSpan.FromSeconds(run.DurationSeconds),
                              run?.OutDir is { } dir ? lastWrite(dir) : null }
                .Concat(nodeCalls.Select(c => (DateTimeOffset?)(c.StartedAt + TimeSpan.FromSeconds(c.LatencySeconds))))
                .Max()!.Value;
            spent += end > start ? end - start : TimeSpan.Zero;
        }

        PendingCall? pending = null;
        var next = calls.Where(c => c.Node == nodes.Count + 1).OrderBy(c => c.Id).ToList();
        if (next.Count > 0)
        {
            var answered = next.LastOrDefault(c => c.Error is null && c.Response is not null);
            pending = new PendingCall(nodes.Count + 1, next[^1].Stage, next[^1].ParentNode,
                answered is null ? null : new ModelAnswer(answered.Response, answered.Id, null, answered.Try), next.Max(c => c.Try));
            var end = next.Max(c => c.StartedAt + TimeSpan.FromSeconds(c.LatencySeconds));
            spent += end - next.Min(c => c.StartedAt);
        }

        return new SessionProgress
        {
            Nodes = nodes, SearchTime = spent, Pending = pending, Repaired = repaired,
            Finals = rows.Where(a => a.Stage == AgentLoop.FinalStage).OrderBy(a => a.Id).ToList(),
        };
    }

    /// <summary>An attempt left 'running': completed from its run when that finished (the session died just after), else
    /// 'interrupted', saying what became of its run.</summary>
    static AgentAttemptRecord Repair(AgentAttemptRecord a, RunRecord? run)
    {
        if (run is not null && run.Verdict != ProgramRunner.Running && ProgramRunner.IsScored(run.Verdict))
        {
            var timed = new AttemptRun(run.Id, run.Verdict, run.TrainTimeMs, run.ValLoss, run.Log, run.Problems, run.OutDir);
            return a with
            {
                Verdict = run.Verdict, TrainTimeMs = run.TrainTimeMs, ValLoss = run.ValLoss,
                Problem = run.Verdict == "ok" ? null : AgentLoop.ProblemOf(timed),
            };
        }
        var what = run is null
            ? "the session stopped before its run was stored"
            : string.Create(CultureInfo.InvariantCulture,
                $"the session stopped during its run (run {run.Id}, now '{run.Verdict}'{(run.Problems is { } p ? $": {p}" : "")})");
        var then = a.Stage == AgentLoop.FinalStage ? "the resumed session runs this seed again" : "the resumed session does not run it again";
        return a with { Verdict = ProgramRunner.Interrupted, Problem = $"{what}; {then}" };
    }
}
