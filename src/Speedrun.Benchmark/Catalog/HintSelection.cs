namespace Speedrun.Benchmark.Catalog;

/// <summary>
/// Which hint levels an agent gets: "none", or a comma-separated list of distinct levels from 0 to 3
/// ("1", "2", "3", "1,2", "1,2,3", ...; "0" is the generated diff). The paper's regimes are none, 1, 2, 3,
/// 1,2 and 1,2,3 (<see cref="PaperRegimes"/>).
/// </summary>
public sealed class HintSelection : IEquatable<HintSelection>
{
    /// <summary>The chosen levels, ascending, without repeats; empty for "none".</summary>
    public IReadOnlyList<int> Levels { get; }

    private HintSelection(IReadOnlyList<int> levels) => Levels = levels;

    public static readonly HintSelection None = new([]);

    /// <summary>The six regimes of the public benchmark: none, L1, L2, L3, L1+L2, L1+L2+L3.</summary>
    public static readonly IReadOnlyList<HintSelection> PaperRegimes =
        [None, Of(1), Of(2), Of(3), Of(1, 2), Of(1, 2, 3)];

    public bool IsNone => Levels.Count == 0;

    public bool Includes(int level) => Levels.Contains(level);

    /// <summary>A selection of the given levels (any order, no repeats).</summary>
    public static HintSelection Of(params int[] levels)
    {
        foreach (var l in levels)
            if (!HintLevels.IsKnown(l)) throw new ArgumentOutOfRangeException(nameof(levels), l, HintLevels.AllowedText);
        if (levels.Distinct().Count() != levels.Length) throw new ArgumentException("A hint level is listed twice.", nameof(levels));
        return new HintSelection([.. levels.Order()]);
    }

    private const string Usage =
        "use 'none' or a comma-separated list of distinct hint levels: 0 (generated diff), 1 (pseudocode), " +
        "2 (description), 3 (mini-paper); for example 1 or 1,2 or 1,2,3";

    /// <summary>Parses a selection; a bad one throws <see cref="FormatException"/> naming the allowed values.</summary>
    public static HintSelection Parse(string text) =>
        TryParse(text, out var selection, out var error) ? selection : throw new FormatException(error);

    public static bool TryParse(string? text, out HintSelection selection, out string error)
    {
        selection = None;
        error = "";
        var trimmed = text?.Trim() ?? "";
        if (trimmed.Equals("none", StringComparison.OrdinalIgnoreCase)) return true;
        if (trimmed.Length == 0) { error = $"Hint selection is empty: {Usage}."; return false; }

        var levels = new List<int>();
        foreach (var raw in trimmed.Split(','))
        {
            var part = raw.Trim();
            if (part.Length == 0)
            {
                error = $"Hint selection '{trimmed}' has an empty entry: {Usage}.";
                return false;
            }
            if (part.Length != 1 || part[0] is < '0' or > '3')
            {
                error = $"Hint selection '{trimmed}': '{part}' is not a hint level; {Usage}.";
                return false;
            }
            int level = part[0] - '0';
            if (levels.Contains(level))
            {
                error = $"Hint selection '{trimmed}' lists level {level} twice; {Usage}.";
                return false;
            }
            levels.Add(level);
        }
        levels.Sort();
        selection = new HintSelection(levels);
        return true;
    }

    /// <summary>The canonical text: "none" or the levels ascending, e.g. "1,2,3".</summary>
    public override string ToString() => IsNone ? "none" : string.Join(",", Levels);

    public bool Equals(HintSelection? other) => other is not null && Levels.SequenceEqual(other.Levels);
    public override bool Equals(object? obj) => Equals(obj as HintSelection);
    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);
}
