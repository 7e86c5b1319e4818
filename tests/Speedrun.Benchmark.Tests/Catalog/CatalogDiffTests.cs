using Speedrun.Benchmark.Catalog;

namespace Speedrun.Benchmark.Tests.Catalog;

/// <summary>Level 0: the unified line diff, against hand-written expectations (checked with GNU diff -u).</summary>
public sealed class CatalogDiffTests
{
    private const string Header = "--- a/Train.cs\n+++ b/Train.cs\n";

    [Fact]
    public void Identical_texts_give_an_empty_diff() =>
        Assert.Equal("", HintLevels.Level0Diff("a\nb\n", "a\nb\n"));

    [Fact]
    public void One_changed_line_with_context()
    {
        var expected = Header + """
            @@ -1,5 +1,5 @@
             a
             b
            -c
            +X
             d
             e

            """;
        Assert.Equal(expected, HintLevels.Level0Diff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\n"));
    }

    [Fact]
    public void Distant_changes_make_two_hunks_and_close_ones_merge()
    {
        var a = Lines(1, 20);
        var twoHunks = Header + """
            @@ -1,5 +1,5 @@
             1
            -2
            +two
             3
             4
             5
            @@ -15,6 +15,6 @@
             15
             16
             17
            -18
            +eighteen
             19
             20

            """;
        Assert.Equal(twoHunks, HintLevels.Level0Diff(a, a.Replace("\n2\n", "\ntwo\n").Replace("\n18\n", "\neighteen\n")));

        // Six unchanged lines between two changes (2 x context): one hunk. Seven: two hunks.
        var merged = HintLevels.Level0Diff(a, a.Replace("\n2\n", "\ntwo\n").Replace("\n9\n", "\nnine\n"));
        Assert.Single(merged.Split('\n'), l => l.StartsWith("@@"));
        Assert.Contains("@@ -1,12 +1,12 @@", merged);
        var split = HintLevels.Level0Diff(a, a.Replace("\n2\n", "\ntwo\n").Replace("\n10\n", "\nten\n"));
        Assert.Equal(2, split.Split('\n').Count(l => l.StartsWith("@@")));
    }

    [Fact]
    public void Insertion_into_an_empty_file_and_deletion_at_the_end()
    {
        Assert.Equal(Header + "@@ -0,0 +1,2 @@\n+x\n+y\n", HintLevels.Level0Diff("", "x\ny\n"));
        Assert.Equal(Header + "@@ -1,3 +1 @@\n x\n-y\n-z\n", HintLevels.Level0Diff("x\ny\nz\n", "x\n"));
    }

    [Fact]
    public void Missing_final_newline_is_marked()
    {
        var expected = Header + "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n";
        Assert.Equal(expected, HintLevels.Level0Diff("a\nb", "a\nb\n"));
    }

    [Fact]
    public void Crlf_is_read_as_lf() => Assert.Equal("", HintLevels.Level0Diff("a\r\nb\r\n", "a\nb\n"));

    [Fact]
    public void Random_edits_apply_back_and_are_minimal()
    {
        var rng = new Random(1234);
        for (int trial = 0; trial < 200; trial++)
        {
            var a = RandomLines(rng, rng.Next(0, 40));
            var b = Mutate(rng, a);
            var textA = string.Concat(a.Select(l => l + "\n"));
            var textB = string.Concat(b.Select(l => l + "\n"));
            var diff = HintLevels.Level0Diff(textA, textB);
            Assert.Equal(textB, Apply(textA, diff));
            int changed = diff.Split('\n').Count(l => (l.StartsWith('+') || l.StartsWith('-')) && !l.StartsWith("+++") && !l.StartsWith("---"));
            Assert.Equal(a.Count + b.Count - 2 * Lcs(a, b), changed);
        }
    }

    private static string Lines(int from, int to) => string.Concat(Enumerable.Range(from, to - from + 1).Select(i => $"{i}\n"));

    private static List<string> RandomLines(Random rng, int n) => [.. Enumerable.Range(0, n).Select(_ => ((char)('a' + rng.Next(5))).ToString())];

    private static List<string> Mutate(Random rng, List<string> a)
    {
        var b = new List<string>(a);
        int edits = rng.Next(0, 8);
        for (int e = 0; e < edits; e++)
        {
            int op = rng.Next(3);
            if (op == 0 || b.Count == 0) b.Insert(rng.Next(b.Count + 1), ((char)('a' + rng.Next(7))).ToString());
            else if (op == 1) b.RemoveAt(rng.Next(b.Count));
            else b[rng.Next(b.Count)] = ((char)('a' + rng.Next(7))).ToString();
        }
        return b;
    }

    private static int Lcs(List<string> a, List<string> b)
    {
        var dp = new int[a.Count + 1, b.Count + 1];
        for (int i = a.Count - 1; i >= 0; i--)
            for (int j = b.Count - 1; j >= 0; j--)
                dp[i, j] = a[i] == b[j] ? dp[i + 1, j + 1] + 1 : Math.Max(dp[i + 1, j], dp[i, j + 1]);
        return dp[0, 0];
    }

    /// <summary>A strict applier for newline-terminated texts: context and removed lines must match.</summary>
    private static string Apply(string oldText, string diff)
    {
        if (diff.Length == 0) return oldText;
        var oldLines = oldText.Split('\n')[..^1];
        var lines = diff.Split('\n')[..^1];
        Assert.StartsWith("--- ", lines[0]);
        Assert.StartsWith("+++ ", lines[1]);
        var result = new List<string>();
        int pos = 0, i = 2;
        while (i < lines.Length)
        {
            var header = lines[i++];
            Assert.StartsWith("@@ -", header);
            var oldRange = header.Split(' ')[1][1..].Split(',');
            int start = int.Parse(oldRange[0]);
            int count = oldRange.Length > 1 ? int.Parse(oldRange[1]) : 1;
            int startIndex = count == 0 ? start : start - 1;
            Assert.True(startIndex >= pos, "hunks overlap or go backwards");
            while (pos < startIndex) result.Add(oldLines[pos++]);
            while (i < lines.Length && !lines[i].StartsWith("@@"))
            {
                var line = lines[i++];
                switch (line[0])
                {
                    case ' ': Assert.Equal(oldLines[pos++], line[1..]); result.Add(line[1..]); break;
                    case '-': Assert.Equal(oldLines[pos++], line[1..]); break;
                    case '+': result.Add(line[1..]); break;
                    default: Assert.Fail($"unexpected diff line '{line}'"); break;
                }
            }
        }
        while (pos < oldLines.Length) result.Add(oldLines[pos++]);
        return string.Concat(result.Select(l => l + "\n"));
    }
}

public sealed class CatalogHintSelectionTests
{
    [Theory]
    [InlineData("none", "none")]
    [InlineData(" NONE ", "none")]
    [InlineData("1", "1")]
    [InlineData("2", "2")]
    [InlineData("3", "3")]
    [InlineData("1,2", "1,2")]
    [InlineData("1,2,3", "1,2,3")]
    [InlineData(" 2 , 1 ", "1,2")]
    [InlineData("0", "0")]
    [InlineData("0,1", "0,1")]
    public void Valid_selections_parse_to_their_canonical_text(string text, string canonical) =>
        Assert.Equal(canonical, HintSelection.Parse(text).ToString());

    [Theory]
    [InlineData("4", "'4' is not a hint level")]
    [InlineData("1,,2", "empty entry")]
    [InlineData("", "empty")]
    [InlineData("1,1", "twice")]
    [InlineData("12", "'12' is not a hint level")]
    [InlineData("one", "'one' is not a hint level")]
    [InlineData("1,", "empty entry")]
    public void Bad_selections_name_the_allowed_values(string text, string problem)
    {
        var e = Assert.Throws<FormatException>(() => HintSelection.Parse(text));
        Assert.Contains(problem, e.Message);
        Assert.Contains("'none'", e.Message);
        Assert.Contains("0 (generated diff)", e.Message);
        Assert.Contains("1 (pseudocode)", e.Message);
        Assert.Contains("2 (description)", e.Message);
        Assert.Contains("3 (mini-paper)", e.Message);
        Assert.False(HintSelection.TryParse(text, out _, out var error));
        Assert.Equal(e.Message, error);
    }

    [Fact]
    public void Selections_compare_by_levels()
    {
        Assert.Equal(HintSelection.Parse("2,1"), HintSelection.Of(1, 2));
        Assert.True(HintSelection.Parse("none").IsNone);
        Assert.Equal(HintSelection.None, HintSelection.Parse("none"));
        Assert.Equal(["none", "1", "2", "3", "1,2", "1,2,3"], HintSelection.PaperRegimes.Select(s => s.ToString()));
        Assert.True(HintSelection.Parse("1,3").Includes(3));
        Assert.False(HintSelection.Parse("1,3").Includes(2));
    }
}
