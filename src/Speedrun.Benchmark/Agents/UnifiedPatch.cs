using System.Globalization;
using System.Text.RegularExpressions;

namespace Speedrun.Benchmark.Agents;

/// <summary>
/// Applies a model's unified diff to one program. Hunks are placed where their header says when the old lines are
/// there; otherwise at the nearest place after the previous hunk where they are (models often get the line numbers
/// wrong, rarely the text), then the same with trailing blanks ignored. A blank line inside a hunk counts as an
/// empty context line (models drop the leading space). Anything else that does not match is refused with the
/// reason, which the scaffold records and shows the model.
/// </summary>
public static partial class UnifiedPatch
{
    /// <summary>The patched text, or null and why the diff could not be applied.</summary>
    public static (string? Result, string? Error) Apply(string original, string diff)
    {
        var hunks = Parse(diff, out var parseError);
        if (parseError is not null) return (null, parseError);
        if (hunks.Count == 0) return (null, "the diff has no hunks (no line starting with '@@ -'); send hunks, or the whole program in a ```csharp block.");

        var text = original.Replace("\r\n", "\n");
        bool finalNewline = text.EndsWith('\n');
        var lines = (finalNewline ? text[..^1] : text).Split('\n').ToList();
        if (text.Length == 0) lines.Clear();

        int delta = 0, floor = 0;
        for (int h = 0; h < hunks.Count; h++)
        {
            var hunk = hunks[h];
            var old = hunk.Lines.Where(l => l.Kind != '+').Select(l => l.Text).ToList();
            var replacement = hunk.Lines.Where(l => l.Kind != '-').Select(l => l.Text).ToList();
            int expected = Math.Max(0, (old.Count == 0 ? hunk.OldStart : hunk.OldStart - 1) + delta);
            int at = Find(lines, old, expected, floor, exact: true);
            if (at < 0) at = Find(lines, old, expected, floor, exact: false);
            if (at < 0)
            {
                var first = old.FirstOrDefault(l => l.Trim().Length > 0) ?? "";
                return (null, string.Create(CultureInfo.InvariantCulture,
                    $"hunk {h + 1} of {hunks.Count} ({hunk.Header}) does not apply: its {old.Count} old lines (starting '{Shorten(first)}') are not in the program at or after the previous hunk. Diffs must be against the program exactly as shown."));
            }
            lines.RemoveRange(at, old.Count);
            lines.InsertRange(at, replacement);
            floor = at + replacement.Count;
            delta = at - (hunk.OldStart - 1) + replacement.Count - old.Count;
        }
        var joined = string.Join("\n", lines);
        return (finalNewline && lines.Count > 0 ? joined + "\n" : joined, null);
    }

    /// <summary>Whether <paramref name="text"/> reads as a unified diff (a hunk header, or ---/+++ file lines).</summary>
    public static bool LooksLikeDiff(string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        return lines.Any(l => l.StartsWith("@@ -", StringComparison.Ordinal)) ||
               (lines.Any(l => l.StartsWith("--- ", StringComparison.Ordinal)) && lines.Any(l => l.StartsWith("+++ ", StringComparison.Ordinal)));
    }

    static int Find(List<string> lines, List<string> old, int expected, int floor, bool exact)
    {
        bool MatchAt(int at)
        {
            if (at < floor || at + old.Count > lines.Count) return false;
            for (int i = 0; i < old.Count; i++)
                if (exact ? lines[at + i] != old[i] : lines[at + i].TrimEnd() != old[i].TrimEnd()) return false;
            return true;
        }
        if (old.Count == 0) return Math.Clamp(expected, floor, lines.Count);
        if (MatchAt(expected)) return expected;
        // The nearest match to where the header said, searching both ways.
        for (int d = 1; d <= lines.Count; d++)
        {
            if (MatchAt(expected - d)) return expected - d;
            if (MatchAt(expected + d)) return expected + d;
        }
        return -1;
    }

    static string Shorten(string line) => line.Trim().Length > 60 ? line.Trim()[..60] + "..." : line.Trim();

    sealed record HunkLine(char Kind, string Text);

    sealed record Hunk(string Header, int OldStart, List<HunkLine> Lines);

    [GeneratedRegex(@"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")]
    private static partial Regex HunkHeader();

    static List<Hunk> Parse(string diff, out string? error)
    {
        error = null;
        var hunks = new List<Hunk>();
        Hunk? current = null;
        foreach (var raw in diff.Replace("\r\n", "\n").Split('\n'))
        {
            if (raw.StartsWith("@@", StringComparison.Ordinal))
            {
                var m = HunkHeader().Match(raw);
                if (!m.Success)
                {
                    error = $"'{Shorten(raw)}' is not a hunk header; write '@@ -start,count +start,count @@'.";
                    return hunks;
                }
                current = new Hunk(m.Value, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), []);
                hunks.Add(current);
                continue;
            }
            if (raw.StartsWith("+++ ", StringComparison.Ordinal) || raw.StartsWith("--- ", StringComparison.Ordinal))
            {
                if (current is not null && current.Lines.Count > 0 && raw.StartsWith("--- ", StringComparison.Ordinal) && !LooksLikeFileLine(raw))
                    current.Lines.Add(new HunkLine('-', raw[1..]));
                else
                {
                    var name = raw[4..].Split('\t')[0].Trim();
                    if (name != "/dev/null" && !name.EndsWith("Train.cs", StringComparison.Ordinal))
                    {
                        error = $"the diff changes '{name}'; only Train.cs can be changed.";
                        return hunks;
                    }
                    current = null;
                }
                continue;
            }
            if (current is null) continue; // "diff --git", "index ...", prose between files
            if (raw.Length == 0) current.Lines.Add(new HunkLine(' ', ""));
            else if (raw[0] is ' ' or '+' or '-') current.Lines.Add(new HunkLine(raw[0], raw[1..]));
            else if (raw[0] == '\\') { /* "\ No newline at end of file" */ }
            else current = null; // the hunk ended; prose follows
        }
        // Trailing blank lines after the last hunk are the block's end, not context.
        foreach (var h in hunks)
            while (h.Lines.Count > 0 && h.Lines[^1] is { Kind: ' ', Text: "" }) h.Lines.RemoveAt(h.Lines.Count - 1);
        return hunks;
    }

    static bool LooksLikeFileLine(string line) => line.Contains("Train.cs", StringComparison.Ordinal) || line.Contains("/dev/null", StringComparison.Ordinal);
}
