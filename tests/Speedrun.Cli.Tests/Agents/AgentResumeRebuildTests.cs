using Speedrun.Benchmark.Agents;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Tests.Agents;

/// <summary>
/// <see cref="AgentResume.Rebuild"/> on stored rows made by hand, for the cases a kill cannot be timed to hit in an
/// end-to-end test: a run that finished just before the process died, the minutes spent across a dead gap, a recorded
/// reply that is used instead of asking again, and a final seed cut off mid-run.
/// </summary>
public sealed class AgentResumeRebuildTests
{
    static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    const string Session = "s1", Start = "// record N\n", P1 = "// node 1\n", P3 = "// node 3\n", P4 = "// node 4\n";

    static ModelCallRecord Call(long id, int node, int? parent, string stage, int tryNo, double at, double latency, string? response, string? error = null) => new()
    {
        Id = id, Session = Session, Node = node, ParentNode = parent, Stage = stage, Try = tryNo, Prompt = "p", Response = response,
        LatencySeconds = latency, Error = error, StartedAt = T0.AddSeconds(at),
    };

    static AgentAttemptRecord Attempt(long id, int node, int? parent, string stage, string verdict, double at, string? source = null,
        long? run = null, long? call = null, int? seed = null) => new()
    {
        Id = id, Session = Session, Node = node, ParentNode = parent, Stage = stage, CallId = call, ReplyFormat = source is null ? "none" : "program",
        Source = source, Verdict = verdict, RunId = run, Seed = seed, TrainTimeMs = verdict == "ok" ? 20_000 : null, CreatedAt = T0.AddSeconds(at),
    };

    static RunRecord Run(long id, string verdict, double at, double duration, string? outDir = null, double? ms = null) => new()
    {
        Id = id, Uid = $"u{id}", Kind = "agent", Record = 1, Track = "ladder", Seed = 0, Verdict = verdict, TrainTimeMs = ms, ValLoss = ms is null ? null : 7.9,
        Fingerprint = "m", SourceSha256 = "x", Source = "", StartedAt = T0.AddSeconds(at), DurationSeconds = duration, OutDir = outDir,
        Problems = verdict == "interrupted" ? "its runner stopped before the run finished" : null,
    };

    [Fact]
    public void Nodes_budgets_repairs_and_the_recorded_reply_come_back()
    {
        ModelCallRecord[] calls =
        [
            Call(1, 1, null, "draft", 1, 0, 10, "```csharp\n// node 1\n```"),
            Call(2, 2, 1, "debug", 1, 50, 5, null, "HTTP 500: boom"), Call(3, 2, 1, "debug", 2, 57, 3, null, "HTTP 500: boom"),
            // The process lay dead from about t0+60 s to t0+1000 s.
            Call(4, 3, 1, "improve", 1, 1000, 20, "```csharp\n// node 3\n```"),
            Call(5, 4, 3, "improve", 1, 1100, 10, "```csharp\n// node 4\n```"),
            Call(6, 5, 3, "improve", 1, 1300, 1, null, "HTTP 429: slow down"), Call(7, 5, 3, "improve", 2, 1302, 8, "```csharp\n// node 5\n```"),
        ];
        AgentAttemptRecord[] attempts =
        [
            Attempt(1, 1, null, "draft", "ok", 11, P1, run: 101, call: 1),
            Attempt(2, 2, 1, "debug", "model_error", 60),
            // Node 3's run had ended (ok) when the process died, before the attempt row was completed.
            Attempt(3, 3, 1, "improve", "running", 1021, P3, run: 103, call: 4, seed: 0),
            // Node 4's run was going: its row was closed as interrupted, and its folder was last written at t0+1200 s.
            Attempt(4, 4, 3, "improve", "running", 1111, P4, run: 104, call: 5, seed: 0),
        ];
        var runs = new Dictionary<long, RunRecord>
        {
            [101] = Run(101, "ok", 12, 30, ms: 20_000), [103] = Run(103, "ok", 1021, 40, ms: 18_000), [104] = Run(104, "interrupted", 1111, 0, "/runs/n004"),
        };
        var progress = AgentResume.Rebuild(Start, calls, attempts, id => runs.GetValueOrDefault(id),
            dir => dir == "/runs/n004" ? T0.AddSeconds(1200) : null);

        Assert.Equal([(1, "draft", "ok", 0), (2, "debug", "model_error", 1), (3, "improve", "ok", 0), (4, "improve", "interrupted", 0)],
            progress.Nodes.Select(n => (n.Id, n.Stage, n.Verdict, n.DebugDepth)));
        // What each node was shown: record N's program for the draft, its parent's program otherwise.
        Assert.Equal([Start, P1, P1, P3], progress.Nodes.Select(n => n.BaseSource));
        Assert.Equal((4, 3), (progress.Steps, progress.Runs));
        Assert.Equal(18_000, progress.Nodes[2].TrainTimeMs);
        Assert.Null(progress.Nodes[2].Problem);
        Assert.StartsWith("the session stopped during its run (run 104, now 'interrupted': its runner stopped", progress.Nodes[3].Problem);
        Assert.EndsWith("the resumed session does not run it again", progress.Nodes[3].Problem);
        Assert.Equal([(3L, "ok"), (4L, "interrupted")], progress.Repaired.Select(a => (a.Id, a.Verdict)));
        // Minutes: node 1 from its call (t0) to its run's end (t0+42 s), node 2 its two tries (t0+50..60), node 3 t0+1000..1061,
        // node 4 t0+1100 to its folder's last write (t0+1200), node 5's calls t0+1300..1310. The dead gap does not count.
        Assert.Equal(TimeSpan.FromSeconds(42 + 10 + 61 + 100 + 10), progress.SearchTime);
        // Node 5 got a reply on its second try: it is used (and a further try would be the third).
        var pending = progress.Pending!;
        Assert.Equal((5, "improve", (int?)3, 2), (pending.Node, pending.Stage, pending.Parent, pending.TriesBefore));
        Assert.Equal(("```csharp\n// node 5\n```", (long?)7, 2), (pending.Answer!.Text, pending.Answer.CallId, pending.Answer.Tries));
        Assert.Empty(progress.Finals);
    }

    [Fact]
    public void A_final_seed_cut_off_is_interrupted_and_a_node_without_calls_asks_again()
    {
        AgentAttemptRecord[] attempts =
        [
            Attempt(1, 1, null, "draft", "ok", 5, P1, run: 101, call: 1),
            Attempt(2, 1, null, "final", "ok", 40, P1, run: 102, seed: 0),
            Attempt(3, 1, null, "final", "running", 80, P1, run: 103, seed: 1),
            Attempt(4, 1, null, "final", "running", 81, P1, seed: 2), // killed before its runs row existed
        ];
        var runs = new Dictionary<long, RunRecord> { [101] = Run(101, "ok", 1, 4, ms: 3000), [102] = Run(102, "ok", 41, 4, ms: 3000), [103] = Run(103, "interrupted", 81, 0) };
        var progress = AgentResume.Rebuild(Start, [Call(1, 1, null, "draft", 1, 0, 1, "x")], attempts, id => runs.GetValueOrDefault(id), _ => null);
        Assert.Null(progress.Pending);
        Assert.Equal([("ok", 0), ("interrupted", 1), ("interrupted", 2)], progress.Finals.Select(a => (a.Verdict, a.Seed!.Value)));
        Assert.EndsWith("the resumed session runs this seed again", progress.Finals[1].Problem);
        Assert.StartsWith("the session stopped before its run was stored", progress.Finals[2].Problem);
        Assert.Equal(TimeSpan.FromSeconds(5), progress.SearchTime); // node 1: its call at t0 to its run's end at t0+5 s
    }

    [Fact]
    public void Attempts_that_are_not_one_node_each_are_refused()
    {
        AgentAttemptRecord[] attempts = [Attempt(1, 1, null, "draft", "ok", 5, P1), Attempt(2, 3, null, "draft", "ok", 9, P1)];
        var e = Assert.Throws<InvalidDataException>(() => AgentResume.Rebuild(Start, [], attempts, _ => null, _ => null));
        Assert.Contains("its attempts are nodes 1, 3", e.Message);
    }
}
