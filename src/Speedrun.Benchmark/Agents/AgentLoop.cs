using System.Diagnostics;
using System.Globalization;
using System.Text;
using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Tasks;

namespace Speedrun.Benchmark.Agents;

/// <summary>A node of the solution tree: the program a model turn produced and what its timed run gave.</summary>
public sealed record SolutionNode
{
    public required int Id { get; init; }
    public int? Parent { get; init; }
    /// <summary>draft, debug or improve.</summary>
    public required string Stage { get; init; }
    /// <summary>How many debug nodes lead to this one from its nearest non-debug ancestor (0 for drafts and improves).</summary>
    public required int DebugDepth { get; init; }
    /// <summary>The program the model was shown (a diff applies to it).</summary>
    public required string BaseSource { get; init; }
    /// <summary>The program the node made; null when the reply gave none.</summary>
    public string? Source { get; init; }
    public required string Verdict { get; init; }
    public double? TrainTimeMs { get; init; }
    public double? ValLoss { get; init; }
    public long? RunId { get; init; }
    /// <summary>What went wrong, as a debug node is told.</summary>
    public string? Problem { get; init; }

    public bool IsOk => Verdict == "ok" && TrainTimeMs is not null;
}

/// <summary>What a session ended with.</summary>
public sealed record AgentOutcome(IReadOnlyList<SolutionNode> Nodes, SolutionNode? Best, IReadOnlyList<AttemptRun> FinalRuns,
    string StopReason, bool Interrupted);

/// <summary>
/// The search loop of the three scaffolds, and then the final runs of the best node.
/// <list type="bullet">
/// <item><b>flat</b>: one draft.</item>
/// <item><b>bon</b>: independent drafts from record N's program until a budget runs out.</item>
/// <item><b>aide</b>: a solution tree, greedy: a failed latest node is debugged (fed its compile errors, the tail of its
/// log or the patch error) while its debug depth is under the limit; otherwise, until <see cref="AgentBudget.Drafts"/>
/// drafts exist, a new draft; otherwise the fastest `ok` node is improved (fed its timed result), or, with none, a
/// fresh draft. A node whose model call failed or whose run was interrupted is not debugged: nothing in it is wrong.</item>
/// </list>
/// The best node is the fastest `ok` one; with none, the failed node whose program got furthest (its final runs
/// then score 0, as they should). The final program is run with the requested seeds under the agent's own label;
/// when no node produced a program, each final seed is stored as a `no_program` run, which scores 0.
/// <para>An attempt whose program is timed is stored as 'running' before the run starts and completed after it, so a
/// session killed mid-run leaves a row that says so. A loop built with <paramref name="resumed"/> goes on from what a
/// stopped session stored (<see cref="AgentResume"/>): its nodes, the budgets they spent, a reply recorded for the
/// next node (used, not asked again) and the final runs already done (not run again).</para>
/// </summary>
public sealed class AgentLoop(string scaffold, AgentBudget budget, TaskMaterial task, ModelCaller model, IAttemptRunner runner,
    IAgentJournal journal, string sessionId, SessionProgress? resumed = null)
{
    public const string Draft = "draft", DebugStage = "debug", Improve = "improve", FinalStage = "final";
    public const string NoProgram = "no_program", PatchFailed = "patch_failed", ModelError = "model_error";

    readonly List<SolutionNode> _nodes = [.. resumed?.Nodes ?? []];
    PendingCall? _pending = resumed?.Pending;

    public AgentOutcome Run(int seeds, int firstSeed, CancellationToken cancel)
    {
        var spent = resumed?.SearchTime ?? TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        int steps = _nodes.Count, runs = _nodes.Count(n => n.RunId is not null);
        var earlierFinals = resumed?.Finals ?? [];
        string stop;
        if (earlierFinals.Count > 0)
        {
            // The final runs had begun: the search was over.
            stop = budget.Exhausted(steps, runs, spent) ?? (scaffold == Scaffolds.Flat ? FlatStop : "the search had ended before the interruption");
        }
        else
        {
            while (true)
            {
                if (cancel.IsCancellationRequested) return Finish([], "interrupted", interrupted: true);
                // A turn whose reply was recorded before an interruption began within the budgets: it is finished first.
                if (_pending is null)
                {
                    if (budget.Exhausted(steps, runs, spent + clock.Elapsed) is { } why) { stop = why; break; }
                    if (scaffold == Scaffolds.Flat && steps >= 1) { stop = FlatStop; break; }
                }
                var (stage, parent) = _pending is { } p ? (p.Stage, p.Parent is { } pid ? _nodes[pid - 1] : null) : NextAction();
                steps++;
                var node = Step(stage, parent, firstSeed, cancel, ref runs);
                if (node is null) return Finish([], "interrupted during a run", interrupted: true);
            }
            journal.Note($"Search stopped: {stop}.");
        }

        var best = Best();
        var finals = earlierFinals.Where(a => ProgramRunner.IsScored(a.Verdict))
            .Select(a => (Seed: a.Seed ?? -1, Run: new AttemptRun(a.RunId ?? 0, a.Verdict, a.TrainTimeMs, a.ValLoss, null, a.Problem, null)))
            .ToList();
        var toRun = Enumerable.Range(firstSeed, seeds).Where(seed => finals.All(f => f.Seed != seed)).ToList();
        if (finals.Count > 0)
            journal.Note($"Final runs already done for seed(s) {string.Join(", ", finals.Select(f => f.Seed))}; " +
                         (toRun.Count == 0 ? "none left to run." : $"running seed(s) {string.Join(", ", toRun)}."));
        if (best?.Source is null)
        {
            var why = _nodes.LastOrDefault()?.Problem is { } last
                ? $"the session ended without a program; its last node: {Tail(last, 3)}"
                : "the session ended without a program";
            if (toRun.Count > 0)
                journal.Note($"No node produced a program, so there is nothing to run: the final run of each seed is stored as " +
                             $"**{NoProgram}**, and this session scores FSR 0.");
            foreach (var seed in toRun)
            {
                var run = runner.NoProgram(seed, why);
                finals.Add((seed, run));
                journal.AddAttempt(new AgentAttemptRecord
                {
                    Session = sessionId, Node = 0, Stage = FinalStage, ReplyFormat = ProgramReply.Nothing, Verdict = run.Verdict,
                    RunId = run.RunId, Seed = seed, Problem = why, CreatedAt = DateTimeOffset.UtcNow,
                });
                journal.Note($"Final run, seed {seed}: **{run.Verdict}** (run {run.RunId}).");
            }
            return Finish(Ordered(finals), stop, interrupted: false);
        }
        if (toRun.Count > 0)
            journal.Note(string.Create(CultureInfo.InvariantCulture,
                $"Best node: {best.Id} ({best.Stage}, verdict {best.Verdict}{(best.TrainTimeMs is { } t ? $", {t / 1000:F2} s" : "")}); " +
                $"running it with seed(s) {string.Join(", ", toRun)}."));
        foreach (var seed in toRun)
        {
            var (run, row) = Timed(new AgentAttemptRecord
            {
                Session = sessionId, Node = best.Id, ParentNode = best.Parent, Stage = FinalStage, ReplyFormat = ProgramReply.WholeProgram,
                Source = best.Source, SourceSha256 = Sha(best.Source), Verdict = ProgramRunner.Running, Seed = seed,
                CreatedAt = DateTimeOffset.UtcNow,
            }, final: true, cancel);
            journal.Note(string.Create(CultureInfo.InvariantCulture,
                $"Final run, seed {seed}: **{row.Verdict}**{Timed(row.TrainTimeMs, row.ValLoss)}{(row.RunId is { } r ? $" (run {r})" : "")}."));
            if (run is null) return Finish(Ordered(finals), stop, interrupted: true);
            finals.Add((seed, run));
        }
        return Finish(Ordered(finals), stop, interrupted: false);
    }

    const string FlatStop = "flat: one prompt, one program";

    static List<AttemptRun> Ordered(List<(int Seed, AttemptRun Run)> finals) => [.. finals.OrderBy(f => f.Seed).Select(f => f.Run)];

    AgentOutcome Finish(IReadOnlyList<AttemptRun> finals, string stop, bool interrupted) => new(_nodes, Best(), finals, stop, interrupted);

    /// <summary>The fastest `ok` node; else the failed node that got furthest (ran over compiled over nothing).</summary>
    SolutionNode? Best() =>
        _nodes.Where(n => n.IsOk).MinBy(n => n.TrainTimeMs)
        ?? _nodes.Where(n => n.Source is not null).OrderByDescending(n => Progress(n.Verdict)).ThenByDescending(n => n.Id).FirstOrDefault();

    static int Progress(string verdict) => verdict switch
    {
        "missed_target" => 5, "diverged" => 4, "timeout" => 3, "no_metrics" or "invalid" => 2, "crashed" => 1, _ => 0,
    };

    (string Stage, SolutionNode? Parent) NextAction()
    {
        if (scaffold != Scaffolds.Aide) return (Draft, null);
        var last = _nodes.LastOrDefault();
        if (last is { IsOk: false } && last.Verdict is not (ModelError or ProgramRunner.Interrupted) && last.DebugDepth < budget.MaxDebugDepth)
            return (DebugStage, last);
        if (_nodes.Count(n => n.Stage == Draft) < budget.Drafts) return (Draft, null);
        if (_nodes.Where(n => n.IsOk).MinBy(n => n.TrainTimeMs) is { } best) return (Improve, best);
        return (Draft, null);
    }

    /// <summary>The program a node of this stage starts from: record N's for a draft, else its parent's program (or,
    /// when the parent made none, the program the parent was shown).</summary>
    public static string BaseSourceOf(string stage, SolutionNode? parent, string startProgram) =>
        stage == Draft ? startProgram : parent!.Source ?? parent.BaseSource;

    SolutionNode? Step(string stage, SolutionNode? parent, int seed, CancellationToken cancel, ref int runs)
    {
        int id = _nodes.Count + 1;
        var baseSource = BaseSourceOf(stage, parent, task.StartProgram);
        var pending = _pending;
        _pending = null;
        journal.Note($"## Node {id}: {stage}{(parent is null ? "" : $" of node {parent.Id}")}{(pending is null ? "" : " (resumed)")}");
        ModelAnswer answer;
        if (pending?.Answer is { } recorded)
        {
            journal.Note($"The reply to model call {recorded.CallId} was recorded before the interruption; it is used, not asked for again.");
            answer = recorded;
        }
        else
        {
            var prompt = stage switch
            {
                Draft => AgentPrompts.Draft(task),
                DebugStage => AgentPrompts.Debug(task, baseSource, parent!.Verdict, parent.Problem ?? "(no details)"),
                _ => AgentPrompts.Improve(task, baseSource, parent!.TrainTimeMs!.Value, parent.ValLoss, runner.TargetValLoss, runner.StartReferenceMs),
            };
            answer = model.Ask(sessionId, id, parent?.Id, stage, prompt, cancel, firstTry: (pending?.TriesBefore ?? 0) + 1);
        }
        int depth = stage == DebugStage ? parent!.DebugDepth + 1 : 0;
        var node = new SolutionNode { Id = id, Parent = parent?.Id, Stage = stage, DebugDepth = depth, BaseSource = baseSource, Verdict = ModelError };
        string format = ProgramReply.Nothing;
        string? program = null;
        if (answer.Text is null)
        {
            node = node with { Problem = $"the model call failed after {answer.Tries} tries: {answer.Error}" };
        }
        else
        {
            var reply = ProgramReply.Parse(answer.Text);
            format = reply.Format;
            (program, var error) = reply.Resolve(baseSource);
            if (program is null)
                node = node with { Verdict = reply.Format == ProgramReply.DiffFormat ? PatchFailed : NoProgram, Problem = error };
        }
        var row = new AgentAttemptRecord
        {
            Session = sessionId, Node = id, ParentNode = parent?.Id, Stage = stage, CallId = answer.CallId, ReplyFormat = format,
            Source = program, SourceSha256 = program is null ? null : Sha(program), Verdict = node.Verdict, Problem = node.Problem,
            CreatedAt = DateTimeOffset.UtcNow,
        };
        AttemptRun? run = null;
        if (program is null) journal.AddAttempt(row);
        else
        {
            runs++;
            (run, row) = Timed(row with { Verdict = ProgramRunner.Running, Seed = seed }, final: false, cancel);
            node = node with
            {
                Source = program, Verdict = row.Verdict, TrainTimeMs = row.TrainTimeMs, ValLoss = row.ValLoss, RunId = row.RunId, Problem = row.Problem,
            };
        }
        _nodes.Add(node);
        journal.Note(NodeLine(node, format));
        return program is not null && run is null ? null : node;
    }

    /// <summary>The transcript's line for a node's result.</summary>
    public static string NodeLine(SolutionNode node, string format) => string.Create(CultureInfo.InvariantCulture,
        $"Node {node.Id} ({format}): **{node.Verdict}**{Timed(node.TrainTimeMs, node.ValLoss)}" +
        $"{(node.RunId is { } r ? $" (run {r})" : "")}{(node.Problem is null ? "" : $"\n\n```\n{Tail(node.Problem, 30)}\n```")}");

    /// <summary>Times <paramref name="row"/>'s program: the attempt row is stored as 'running' first (with its runs row as
    /// soon as that exists), then completed with the run's verdict; a run the user interrupts leaves it 'interrupted'.</summary>
    (AttemptRun? Run, AgentAttemptRecord Row) Timed(AgentAttemptRecord row, bool final, CancellationToken cancel)
    {
        long id = journal.AddAttempt(row);
        long? runId = null;
        var run = runner.Run(row.Source!, row.Node, row.Seed!.Value, final, cancel, r => { runId = r; journal.AttemptRunStarted(id, r); });
        var done = run is null
            ? row with { Id = id, RunId = runId, Verdict = ProgramRunner.Interrupted, Problem = "stopped by the user during the run" }
            : row with
            {
                Id = id, RunId = run.RunId, Verdict = run.Verdict, TrainTimeMs = run.TrainTimeMs, ValLoss = run.ValLoss,
                Problem = run.Verdict == "ok" ? null : ProblemOf(run),
            };
        journal.UpdateAttempt(done);
        return (run, done);
    }

    static string Timed(double? ms, double? loss) =>
        ms is { } t ? string.Create(CultureInfo.InvariantCulture, $", {t / 1000:F2} s, val_loss {loss:F4}") : "";

    /// <summary>What a debug node is told: the harness's problems, then the tail of the log (compile errors or output).</summary>
    public static string ProblemOf(AttemptRun run)
    {
        var sb = new StringBuilder();
        if (run.ValLoss is { } loss && run.Verdict == "missed_target")
            sb.Append(string.Create(CultureInfo.InvariantCulture, $"The harness measured val_loss {loss:F4}, above the target.\n"));
        if (!string.IsNullOrWhiteSpace(run.Problems)) sb.Append(run.Problems.TrimEnd()).Append('\n');
        if (!string.IsNullOrWhiteSpace(run.Log)) sb.Append("--- log (last lines) ---\n").Append(Tail(run.Log, 40));
        return sb.Length == 0 ? $"verdict {run.Verdict}, no log" : sb.ToString();
    }

    static string Tail(string text, int lines)
    {
        var all = text.Replace("\r\n", "\n").TrimEnd().Split('\n');
        var tail = string.Join("\n", all.Skip(Math.Max(0, all.Length - lines)));
        return tail.Length > 6000 ? tail[^6000..] : tail;
    }

    public static string Sha(string source) => TaskManifest.Sha256Hex(Encoding.UTF8.GetBytes(source));
}
