using Speedrun.Benchmark.Agents;
using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Store;

namespace Speedrun.Benchmark.Reports;

/// <summary>
/// One model through one scaffold with one hint setting, on one track: the final runs of its `speedrun agent` sessions
/// (agent label MODEL@SCAFFOLD; the search runs, labelled MODEL@SCAFFOLD:search, are left out) over every task they were
/// run on. <see cref="MeanFsr"/> and its interval are that label's <see cref="HintAggregate"/>: the mean over tasks of
/// each task's mean FSR with the hierarchical bootstrap interval; null when no task of the row can be scored yet (no
/// calibrations). <see cref="Verdicts"/> counts every final run, `no_program` (a session that produced no program) and
/// the unscored `interrupted` ones included.
/// </summary>
public sealed record AgentScore(string Model, string Scaffold, string Hints, string Agent, int Tasks, int TasksScored, int Runs, int Ok,
    IReadOnlyDictionary<string, int> Verdicts, double? MeanFsr, double? Low, double? High)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public string VerdictsText => string.Join(", ", Verdicts.Where(v => v.Value > 0).Select(v => $"{v.Key} {v.Value}"));

    /// <summary>The model and scaffold of an agent label MODEL@SCAFFOLD (a known scaffold); null for any other label,
    /// search labels included.</summary>
    public static (string Model, string Scaffold)? Split(string? agent)
    {
        if (agent is null || agent.EndsWith(Scaffolds.SearchSuffix, StringComparison.Ordinal)) return null;
        int at = agent.LastIndexOf('@');
        if (at <= 0) return null;
        var scaffold = agent[(at + 1)..];
        return Scaffolds.All.Contains(scaffold) ? (agent[..at], scaffold) : null;
    }

    /// <param name="aggregates">The track's <see cref="HintAggregate"/> rows, computed from the same runs.</param>
    public static IReadOnlyList<AgentScore> Compute(IReadOnlyList<RunRecord> runs, string track, IReadOnlyList<HintAggregate> aggregates)
    {
        var rows = new List<AgentScore>();
        foreach (var group in runs.Where(r => r.Kind == RunLabel.AgentKind && r.Track == track && Split(r.Agent) is not null)
                     .GroupBy(r => (Agent: r.Agent!, Hints: r.Hints ?? "none")))
        {
            var (model, scaffold) = Split(group.Key.Agent)!.Value;
            var aggregate = aggregates.FirstOrDefault(a => a.Agent == group.Key.Agent && a.Hints == group.Key.Hints);
            var verdicts = group.GroupBy(r => r.Verdict)
                .OrderBy(g => Array.IndexOf(ProgramRunner.Verdicts, g.Key) is var i && i >= 0 ? i : ProgramRunner.Verdicts.Length)
                .ThenBy(g => g.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count());
            rows.Add(new AgentScore(model, scaffold, group.Key.Hints, group.Key.Agent, group.Select(r => r.Record).Distinct().Count(),
                aggregate?.Tasks ?? 0, group.Count(r => ProgramRunner.IsScored(r.Verdict)), group.Count(r => r.Verdict == "ok"), verdicts,
                aggregate?.MeanFsr, aggregate?.Low, aggregate?.High));
        }
        return rows.OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => Scaffolds.All.ToList().IndexOf(r.Scaffold))
            .ThenBy(r => ScoreBoard.HintOrder(r.Hints)).ThenBy(r => r.Hints, StringComparer.Ordinal).ToList();
    }
}
