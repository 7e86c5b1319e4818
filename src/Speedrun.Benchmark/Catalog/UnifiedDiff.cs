using System.Text;

namespace Speedrun.Benchmark.Catalog;

/// <summary>
/// A line diff (Myers' O(ND) greedy algorithm) printed in the unified format of GNU diff and git:
/// "--- old", "+++ new", then hunks "@@ -start,count +start,count @@" with context lines. CRLF line ends
/// are read as LF; a last line without a newline is marked "\ No newline at end of file".
/// </summary>
public static class UnifiedDiff
{
    private enum Op { Equal, Delete, Insert }

    private readonly record struct Edit(Op Op, int OldIndex, int NewIndex);

    /// <summary>The unified diff from <paramref name="oldText"/> to <paramref name="newText"/>; "" if equal.</summary>
    public static string Create(string oldText, string newText, string oldLabel, string newLabel, int context = 3)
    {
        ArgumentNullException.ThrowIfNull(oldText);
        ArgumentNullException.ThrowIfNull(newText);
        ArgumentOutOfRangeException.ThrowIfNegative(context);
        var a = SplitLines(oldText);
        var b = SplitLines(newText);
        var edits = Diff(a, b);
        if (edits.All(e => e.Op == Op.Equal)) return "";

        var sb = new StringBuilder();
        sb.Append("--- ").Append(oldLabel).Append('\n');
        sb.Append("+++ ").Append(newLabel).Append('\n');
        foreach (var (first, last) in Hunks(edits, context))
            AppendHunk(sb, edits, first, last, a, b);
        return sb.ToString();
    }

    /// <summary>Lines with their terminator kept ("\n" or none), so a missing final newline is a difference.</summary>
    private static string[] SplitLines(string text)
    {
        text = text.Replace("\r\n", "\n");
        if (text.Length == 0) return [];
        var parts = text.Split('\n');
        var lines = new List<string>(parts.Length);
        for (int i = 0; i < parts.Length - 1; i++) lines.Add(parts[i] + "\n");
        if (parts[^1].Length > 0) lines.Add(parts[^1]); // last line without a newline
        return [.. lines];
    }

    /// <summary>The edit script, in order, covering every line of both inputs.</summary>
    private static List<Edit> Diff(string[] a, string[] b)
    {
        int prefix = 0;
        while (prefix < a.Length && prefix < b.Length && a[prefix] == b[prefix]) prefix++;
        int suffix = 0;
        while (suffix < a.Length - prefix && suffix < b.Length - prefix && a[^(suffix + 1)] == b[^(suffix + 1)]) suffix++;

        var edits = new List<Edit>(a.Length + b.Length);
        for (int i = 0; i < prefix; i++) edits.Add(new Edit(Op.Equal, i, i));
        edits.AddRange(Myers(a, b, prefix, a.Length - suffix, prefix, b.Length - suffix));
        for (int i = 0; i < suffix; i++)
            edits.Add(new Edit(Op.Equal, a.Length - suffix + i, b.Length - suffix + i));
        return edits;
    }

    /// <summary>Myers' greedy shortest edit script for a[aStart..aEnd) against b[bStart..bEnd).</summary>
    private static List<Edit> Myers(string[] a, string[] b, int aStart, int aEnd, int bStart, int bEnd)
    {
        int n = aEnd - aStart, m = bEnd - bStart, max = n + m;
        var result = new List<Edit>();
        if (max == 0) return result;

        int offset = max + 1;
        var v = new int[2 * max + 3];
        // trace[d] = the furthest x on each diagonal k in [-(d+1), d+1] before round d.
        var trace = new List<int[]>();
        int depth = -1;
        for (int d = 0; d <= max && depth < 0; d++)
        {
            var snapshot = new int[2 * d + 3];
            Array.Copy(v, offset - d - 1, snapshot, 0, snapshot.Length);
            trace.Add(snapshot);
            for (int k = -d; k <= d; k += 2)
            {
                int x = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1])
                    ? v[offset + k + 1]
                    : v[offset + k - 1] + 1;
                int y = x - k;
                while (x < n && y < m && a[aStart + x] == b[bStart + y]) { x++; y++; }
                v[offset + k] = x;
                if (x >= n && y >= m) { depth = d; break; }
            }
        }

        // Walk back from (n, m) to (0, 0), collecting edits in reverse.
        int cx = n, cy = m;
        for (int d = depth; d >= 0; d--)
        {
            var snap = trace[d];
            int At(int k) => snap[k + d + 1];
            int k = cx - cy;
            int prevK = k == -d || (k != d && At(k - 1) < At(k + 1)) ? k + 1 : k - 1;
            int prevX = d == 0 ? 0 : At(prevK);
            int prevY = d == 0 ? 0 : prevX - prevK;
            while (cx > prevX && cy > prevY)
            {
                cx--; cy--;
                result.Add(new Edit(Op.Equal, aStart + cx, bStart + cy));
            }
            if (d > 0)
            {
                if (cx == prevX) result.Add(new Edit(Op.Insert, aStart + cx, bStart + prevY));
                else result.Add(new Edit(Op.Delete, aStart + prevX, bStart + cy));
            }
            cx = prevX; cy = prevY;
        }
        result.Reverse();
        return result;
    }

    /// <summary>Ranges [first, last] of the edit list that form hunks: changes plus context, merged when close.</summary>
    private static List<(int First, int Last)> Hunks(List<Edit> edits, int context)
    {
        var hunks = new List<(int, int)>();
        int i = 0;
        while (i < edits.Count)
        {
            if (edits[i].Op == Op.Equal) { i++; continue; }
            int first = Math.Max(0, i - context);
            int lastChange = i;
            int j = i + 1;
            while (j < edits.Count)
            {
                if (edits[j].Op != Op.Equal) { lastChange = j; j++; continue; }
                // Equal run: does another change follow within 2 * context lines?
                int run = j;
                while (run < edits.Count && edits[run].Op == Op.Equal) run++;
                if (run < edits.Count && run - j <= 2 * context) { j = run; continue; }
                break;
            }
            int last = Math.Min(edits.Count - 1, lastChange + context);
            hunks.Add((first, last));
            i = last + 1;
        }
        return hunks;
    }

    private static void AppendHunk(StringBuilder sb, List<Edit> edits, int first, int last, string[] a, string[] b)
    {
        int oldCount = 0, newCount = 0;
        for (int i = first; i <= last; i++)
        {
            if (edits[i].Op != Op.Insert) oldCount++;
            if (edits[i].Op != Op.Delete) newCount++;
        }
        // 1-based start lines; an empty range names the line before it (GNU convention).
        int oldStart = edits[first].OldIndex + (oldCount == 0 ? 0 : 1);
        int newStart = edits[first].NewIndex + (newCount == 0 ? 0 : 1);
        sb.Append("@@ -").Append(Range(oldStart, oldCount)).Append(" +").Append(Range(newStart, newCount)).Append(" @@\n");
        for (int i = first; i <= last; i++)
        {
            var e = edits[i];
            var (prefix, line) = e.Op switch
            {
                Op.Equal => (' ', a[e.OldIndex]),
                Op.Delete => ('-', a[e.OldIndex]),
                _ => ('+', b[e.NewIndex]),
            };
            sb.Append(prefix);
            if (line.EndsWith('\n')) sb.Append(line);
            else sb.Append(line).Append("\n\\ No newline at end of file\n");
        }
    }

    private static string Range(int start, int count) => count == 1 ? $"{start}" : $"{start},{count}";
}
