namespace Speedrun.Benchmark.Agents;

/// <summary>The scaffolds `speedrun agent --scaffold` knows.</summary>
public static class Scaffolds
{
    /// <summary>One prompt, one program.</summary>
    public const string Flat = "flat";
    /// <summary>Independent drafts from record N's program, the best kept.</summary>
    public const string BestOfN = "bon";
    /// <summary>A solution tree: drafts, debug nodes for failures, improve nodes for the best program.</summary>
    public const string Aide = "aide";

    public static readonly IReadOnlyList<string> All = [Flat, BestOfN, Aide];

    /// <summary>Added to the agent label (MODEL@SCAFFOLD) of the search's runs; the final runs carry the label alone.</summary>
    public const string SearchSuffix = ":search";
}

/// <summary>
/// How much a search may spend: model turns (<see cref="Steps"/>; retries of one turn do not count), timed runs
/// (<see cref="Runs"/>; the final runs do not count) and wall time (<see cref="Minutes"/>, checked before each step;
/// a run already going is not cut short, and the final runs always happen). <see cref="Drafts"/> and
/// <see cref="MaxDebugDepth"/> shape the aide tree.
/// </summary>
public sealed record AgentBudget(int Steps, int Runs, double Minutes, int Drafts = 2, int MaxDebugDepth = 3)
{
    /// <summary>Why the search must stop before another step, or null to go on.</summary>
    public string? Exhausted(int steps, int runs, TimeSpan elapsed) =>
        steps >= Steps ? $"--steps {Steps} model turns used"
        : runs >= Runs ? $"--runs {Runs} timed runs used"
        : elapsed.TotalMinutes >= Minutes ? $"--minutes {Minutes:0.##} of wall time used"
        : null;
}
