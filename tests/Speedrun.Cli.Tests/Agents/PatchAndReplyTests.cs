using Speedrun.Benchmark.Agents;
using Speedrun.Benchmark.Catalog;

namespace Speedrun.Cli.Tests.Agents;

/// <summary>How a model's answer becomes a program: whole programs, unified diffs (also with wrong line numbers),
/// and the refusals the scaffold records and feeds back.</summary>
public sealed class PatchAndReplyTests
{
    static string Ladder(int record) =>
        File.ReadAllText(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "ladder", "records"), "Train.cs", SearchOption.AllDirectories)
            .Order().ElementAt(record - 1));

    [Fact]
    public void The_records_own_diff_turns_record_1_into_record_2()
    {
        var diff = HintLevels.Level0Diff(Ladder(1), Ladder(2));
        var (result, error) = UnifiedPatch.Apply(Ladder(1), diff);
        Assert.Null(error);
        Assert.Equal(Ladder(2), result);
    }

    [Fact]
    public void Hunks_with_wrong_line_numbers_are_placed_by_their_text()
    {
        var diff = System.Text.RegularExpressions.Regex.Replace(HintLevels.Level0Diff(Ladder(1), Ladder(2)), @"@@ -(\d+)",
            m => "@@ -" + (int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 7).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.DoesNotContain("@@ -1,", diff);
        var (result, error) = UnifiedPatch.Apply(Ladder(1), diff);
        Assert.Null(error);
        Assert.Equal(Ladder(2), result);
    }

    [Fact]
    public void A_diff_whose_old_lines_are_not_in_the_program_is_refused_with_the_hunk_named()
    {
        const string diff = "--- a/Train.cs\n+++ b/Train.cs\n@@ -11,2 +11,2 @@\n-int steps = 10 + 99;\n-float learningRate = 0.5f;\n+int steps = 10 + 20;\n+float learningRate = 0.06f;\n";
        var (result, error) = UnifiedPatch.Apply(Ladder(1), diff);
        Assert.Null(result);
        Assert.Contains("hunk 1 of 1 (@@ -11,2 +11,2 @@) does not apply", error);
        Assert.Contains("int steps = 10 + 99;", error);
    }

    [Fact]
    public void A_diff_of_another_file_or_without_hunks_is_refused()
    {
        Assert.Contains("only Train.cs", UnifiedPatch.Apply("x\n", "--- a/Other.cs\n+++ b/Other.cs\n@@ -1 +1 @@\n-x\n+y\n").Error);
        Assert.Contains("no hunks", UnifiedPatch.Apply("x\n", "--- a/Train.cs\n+++ b/Train.cs\n").Error);
    }

    [Fact]
    public void Replies_give_a_program_a_diff_or_nothing()
    {
        var program = ProgramReply.Parse("Sure.\n```csharp\nshort\n```\nand\n```cs\nthe longer block\n```\n");
        Assert.Equal((ProgramReply.WholeProgram, "the longer block\n"), (program.Format, program.Program));
        var diff = ProgramReply.Parse("```diff\n--- a/Train.cs\n+++ b/Train.cs\n@@ -1 +1 @@\n-a\n+b\n```");
        Assert.Equal(ProgramReply.DiffFormat, diff.Format);
        Assert.Equal(("b\n", (string?)null), diff.Resolve("a\n"));
        // A diff in a block labelled csharp is still a diff.
        Assert.Equal(ProgramReply.DiffFormat, ProgramReply.Parse("```csharp\n@@ -1 +1 @@\n-a\n+b\n```").Format);
        var nothing = ProgramReply.Parse("I would change the learning rate.");
        Assert.Equal(ProgramReply.Nothing, nothing.Format);
        Assert.Contains("```csharp", nothing.Error);
    }
}
