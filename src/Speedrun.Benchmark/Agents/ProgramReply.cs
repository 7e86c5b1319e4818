using System.Text.RegularExpressions;

namespace Speedrun.Benchmark.Agents;

/// <summary>
/// What a model's answer gives: a whole program (a ```csharp block), a unified diff against the program it was shown
/// (a ```diff block, or any block that reads as a diff), or nothing usable. Of several program blocks the longest
/// counts; a program block wins over a diff.
/// </summary>
public sealed partial record ProgramReply(string Format, string? Program, string? Diff, string? Error)
{
    public const string WholeProgram = "program";
    public const string DiffFormat = "diff";
    public const string Nothing = "none";

    [GeneratedRegex(@"```[ \t]*([A-Za-z0-9#+\-]*)[^\n]*\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencedBlock();

    public static ProgramReply Parse(string? reply)
    {
        if (string.IsNullOrWhiteSpace(reply))
            return new(Nothing, null, null, "the reply was empty; answer with the whole Train.cs in a ```csharp block or a unified diff in a ```diff block.");
        var text = reply.Replace("\r\n", "\n");
        var blocks = FencedBlock().Matches(text).Select(m => (Lang: m.Groups[1].Value.ToLowerInvariant(), Body: m.Groups[2].Value)).ToList();
        var diffs = blocks.Where(b => b.Lang is "diff" or "patch" || UnifiedPatch.LooksLikeDiff(b.Body)).ToList();
        var programs = blocks.Except(diffs).Where(b => b.Lang is "csharp" or "cs" or "c#" or "").ToList();
        if (programs.Count > 0)
            return new(WholeProgram, programs.MaxBy(b => b.Body.Length).Body, null, null);
        if (diffs.Count > 0)
            return new(DiffFormat, null, diffs[0].Body, null);
        // An unfenced diff is still a diff.
        if (UnifiedPatch.LooksLikeDiff(text)) return new(DiffFormat, null, text, null);
        return new(Nothing, null, null,
            "the reply had no ```csharp block with the whole Train.cs and no ```diff block; answer with exactly one of the two.");
    }

    /// <summary>The program this reply makes from <paramref name="current"/>, or why it makes none.</summary>
    public (string? Program, string? Error) Resolve(string current) => Format switch
    {
        WholeProgram => (Program, null),
        DiffFormat => UnifiedPatch.Apply(current, Diff!),
        _ => (null, Error),
    };
}
