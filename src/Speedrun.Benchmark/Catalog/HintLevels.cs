namespace Speedrun.Benchmark.Catalog;

/// <summary>
/// The hint tiers, numbered as the public benchmark numbers them: 1 = pseudocode, 2 = text description,
/// 3 = mini-paper, stored in hints/NN/ for the task that starts from record NN. Level 0 is the exact diff
/// between the two records' Train.cs files; it is generated on demand and never stored.
/// </summary>
public static class HintLevels
{
    public const int Diff = 0;
    public const int Pseudocode = 1;
    public const int Description = 2;
    public const int Paper = 3;

    /// <summary>All levels, the generated diff first.</summary>
    public static readonly IReadOnlyList<int> All = [Diff, Pseudocode, Description, Paper];

    /// <summary>The levels that live as files in hints/NN/.</summary>
    public static readonly IReadOnlyList<int> Stored = [Pseudocode, Description, Paper];

    public static bool IsKnown(int level) => level is >= Diff and <= Paper;

    /// <summary>File name of a level, in hints/NN/ (levels 1-3) or in an agent workspace (all levels).</summary>
    public static string FileName(int level) => level switch
    {
        Diff => "level0-diff.patch",
        Pseudocode => "level1-pseudocode.md",
        Description => "level2-description.md",
        Paper => "level3-paper.md",
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, AllowedText),
    };

    /// <summary>Short human name of a level.</summary>
    public static string Title(int level) => level switch
    {
        Diff => "diff between the two training programs",
        Pseudocode => "pseudocode",
        Description => "text description",
        Paper => "mini-paper",
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, AllowedText),
    };

    internal const string AllowedText =
        "levels are 0 (generated diff), 1 (pseudocode), 2 (description) and 3 (mini-paper)";

    /// <summary>
    /// Level 0: a unified diff (3 lines of context) from record N's Train.cs to record N+1's, labelled
    /// a/Train.cs and b/Train.cs so that `patch -p1` applies it inside a workspace. Empty when the two
    /// programs are identical.
    /// </summary>
    public static string Level0Diff(string trainN, string trainNplus1) =>
        UnifiedDiff.Create(trainN, trainNplus1, "a/" + RecordInfo.TrainFileName, "b/" + RecordInfo.TrainFileName);
}
