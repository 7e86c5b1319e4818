using System.Diagnostics;
using System.Globalization;
using System.Text;
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
/// fresh draft.</item>
/// </list>
/// The best node is the fastest `ok` one; with none, the failed node whose program got furthest (its final runs
/// then score 0, as they should). The final program is run with the requested seeds under the agent's own label.
/// </summary>
public sealed class AgentLoop(string scaffold, AgentBudget budget, TaskMaterial task, ModelCaller model, IAttemptRunner runner,
    IAgentJournal journal, string sessionId)
{
    public const string Draft = "draft", DebugStage = "debug", Improve = "improve", FinalStage = "final";
    public const string NoProgram = "no_program", PatchFailed = "patch_failed", ModelError = "model_error";

    readonly List<SolutionNode> _nodes = [];

    public AgentOutcome Run(int seeds, int firstSeed, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        int steps = 0, runs = 0;
        string stop;
        while (true)
        {
            if (cancel.IsCancellationRequested) return Finish([], "interrupted", interrupted: true);
            if (budget.Exhausted(steps, runs, clock.Elapsed) is { } why) { stop = why; break; }
            if (scaffold == Scaffolds.Flat && steps >= 1) { stop = "flat: one prompt, one program"; break; }
            var (stage, parent) = NextAction();
            steps++;
            var node = Step(stage, parent, firstSeed, cancel, ref runs);
            if (node is null) return Finish([], "interrupted during a run", interrupted: true);
        }
        journal.Note($"Search stopped: {stop}.");
        var best = Best();
        if (best?.Source is null)
        {
            journal.Note("No node produced a program, so there is nothing to run: this session scores FSR 0.");
            return Finish([], stop, interrupted: false);
        }
        journal.Note(string.Create(CultureInfo.InvariantCulture,
            $"Best node: {best.Id} ({best.Stage}, verdict {best.Verdict}{(best.TrainTimeMs is { } t ? $", {t / 1000:F2} s" : "")}); " +
            $"running it with seeds {firstSeed}..{firstSeed + seeds - 1}."));
        var finals = new List<AttemptRun>();
        for (int seed = firstSeed; seed < firstSeed + seeds; seed++)
        {
            var run = runner.Run(best.Source, best.Id, seed, final: true, cancel);
            if (run is null) return Finish(finals, stop, interrupted: true);
            finals.Add(run);
            journal.AddAttempt(new AgentAttemptRecord
            {
                Session = sessionId, Node = best.Id, ParentNode = best.Parent, Stage = FinalStage, ReplyFormat = ProgramReply.WholeProgram,
                Source = best.Source, SourceSha256 = Sha(best.Source), Verdict = run.Verdict, RunId = run.RunId, Seed = seed,
                TrainTimeMs = run.TrainTimeMs, ValLoss = run.ValLoss, Problem = run.Verdict == "ok" ? null : ProblemOf(run),
                CreatedAt = DateTimeOffset.UtcNow,
            });
            journal.Note(string.Create(CultureInfo.InvariantCulture,
                $"Final run, seed {seed}: **{run.Verdict}**{Timed(run.TrainTimeMs, run.ValLoss)} (run {run.RunId})."));
        }
        return Finish(finals, stop, interrupted: false);
    }

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
        if (last is { IsOk: false } && last.Verdict != ModelError && last.DebugDepth < budget.MaxDebugDepth) return (DebugStage, last);
        if (_nodes.Count(n => n.Stage == Draft) < budget.Drafts) return (Draft, null);
        if (_nodes.Where(n => n.IsOk).MinBy(n => n.TrainTimeMs) is { } best) return (Improve, best);
        return (Draft, null);
    }

    SolutionNode? Step(string stage, SolutionNode? parent, int seed, CancellationToken cancel, ref int runs)
    {
        int id = _nodes.Count + 1;
        var baseSource = stage == Draft ? task.StartProgram : parent!.Source ?? parent.BaseSource;
        var prompt = stage switch
        {
            Draft => AgentPrompts.Draft(task),
            DebugStage => AgentPrompts.Debug(task, baseSource, parent!.Verdict, parent.Problem ?? "(no details)"),
            _ => AgentPrompts.Improve(task, baseSource, parent!.TrainTimeMs!.Value, parent.ValLoss, runner.TargetValLoss, runner.StartReferenceMs),
        };
        journal.Note($"## Node {id}: {stage}{(parent is null ? "" : $" of node {parent.Id}")}");
        var answer = model.Ask(sessionId, id, parent?.Id, stage, prompt, cancel);
        int depth = stage == DebugStage ? parent!.DebugDepth + 1 : 0;
        var node = new SolutionNode { Id = id, Parent = parent?.Id, Stage = stage, DebugDepth = depth, BaseSource = baseSource, Verdict = ModelError };
        string format = ProgramReply.Nothing;
        if (answer.Text is null)
        {
            node = node with { Problem = $"the model call failed after {answer.Tries} tries: {answer.Error}" };
        }
        else
        {
            var reply = ProgramReply.Parse(answer.Text);
            format = reply.Format;
            var (program, error) = reply.Resolve(baseSource);
            if (program is null)
                node = node with { Verdict = reply.Format == ProgramReply.DiffFormat ? PatchFailed : NoProgram, Problem = error };
            else
            {
                runs++;
                var run = runner.Run(program, id, seed, final: false, cancel);
                if (run is null) return null;
                node = node with
                {
                    Source = program, Verdict = run.Verdict, TrainTimeMs = run.TrainTimeMs, ValLoss = run.ValLoss, RunId = run.RunId,
                    Problem = run.Verdict == "ok" ? null : ProblemOf(run),
                };
            }
        }
        _nodes.Add(node);
        journal.AddAttempt(new AgentAttemptRecord
        {
            Session = sessionId, Node = id, ParentNode = parent?.Id, Stage = stage, CallId = answer.CallId, ReplyFormat = format,
            Source = node.Source, SourceSha256 = node.Source is null ? null : Sha(node.Source), Verdict = node.Verdict, RunId = node.RunId,
            Seed = node.RunId is null ? null : seed, TrainTimeMs = node.TrainTimeMs, ValLoss = node.ValLoss, Problem = node.Problem,
            CreatedAt = DateTimeOffset.UtcNow,
        });
        journal.Note(string.Create(CultureInfo.InvariantCulture,
            $"Node {id} ({format}): **{node.Verdict}**{Timed(node.TrainTimeMs, node.ValLoss)}" +
            $"{(node.RunId is { } r ? $" (run {r})" : "")}{(node.Problem is null ? "" : $"\n\n```\n{Tail(node.Problem, 30)}\n```")}"));
        return node;
    }

    static string Timed(double? ms, double? loss) =>
        ms is { } t ? string.Create(CultureInfo.InvariantCulture, $", {t / 1000:F2} s, val_loss {loss:F4}") : "";

    /// <summary>What a debug node is told: the harness's problems, then the tail of the log (compile errors or output).</summary>
    static string ProblemOf(AttemptRun run)
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

    static string Sha(string source) => TaskManifest.Sha256Hex(Encoding.UTF8.GetBytes(source));
}
