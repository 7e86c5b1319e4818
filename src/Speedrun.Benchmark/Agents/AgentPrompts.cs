using System.Globalization;
using System.Text;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Tasks;

namespace Speedrun.Benchmark.Agents;

/// <summary>What the model is shown of a task workspace: TASK.md, the chosen hints, API.md and record N's program.</summary>
public sealed record TaskMaterial(string TaskText, IReadOnlyList<(string Title, string Text)> Hints, string Api, string StartProgram)
{
    public static TaskMaterial Read(string workspace, TaskManifest manifest)
    {
        string Read(string name) => File.ReadAllText(Path.Combine(workspace, name));
        var hints = manifest.HintLevels
            .Select(level => (Title: $"Hint level {level}: {HintLevels.Title(level)}",
                              Text: Read(Path.Combine(TaskWorkspace.HintsFolder, HintLevels.FileName(level)))))
            .ToList();
        return new TaskMaterial(Read(TaskWorkspace.InstructionsFileName), hints, Read(ApiReference.FileName), Read(manifest.TrainFile));
    }
}

/// <summary>
/// The scaffolds' prompts. Every prompt carries the whole task (TASK.md, hints, API.md) and one program, the one the
/// model's diff must apply to; a draft starts from record N's program, a debug node from the failed program with
/// its error, an improve node from the best program with its timed result.
/// </summary>
public static class AgentPrompts
{
    public const string System =
        "You are an ML research engineer taking part in a benchmark. You change a C# training program so that it reaches " +
        "the target validation loss in less wall-clock time, following the task's contract. Answer with EITHER the complete " +
        "new Train.cs in one ```csharp fenced block, OR a unified diff against the program you were shown in one ```diff " +
        "fenced block (headers '--- a/Train.cs' and '+++ b/Train.cs', hunks with a few lines of unchanged context copied " +
        "exactly). A short explanation before the block is welcome; only the block is used.";

    public static string Draft(TaskMaterial task) =>
        Compose(task, task.StartProgram, "the program you start from (record N's Train.cs)",
            "Write a version of this program that trains faster to the target. Draw on the hints if there are any.");

    public static string Debug(TaskMaterial task, string program, string verdict, string problem) =>
        Compose(task, program, "your previous attempt",
            $"That attempt failed with verdict '{verdict}'. What went wrong:\n\n```\n{problem.TrimEnd()}\n```\n\n" +
            "Fix the problem, keeping the attempt's speed-up if you can. A diff must apply to the program shown above.");

    public static string Improve(TaskMaterial task, string program, double trainTimeMs, double? valLoss, double target, double? startMs) =>
        Compose(task, program, "the best program so far",
            string.Create(CultureInfo.InvariantCulture,
                $"This program reached validation loss {valLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "?"} (target {target:F2}) " +
                $"in {trainTimeMs / 1000:F2} s of wall time as the harness measured it") +
            (startMs is { } s ? string.Create(CultureInfo.InvariantCulture, $"; record N's program took {s / 1000:F2} s here") : "") +
            ". Make it faster while it still reaches the target.");

    static string Compose(TaskMaterial task, string program, string programTitle, string instruction)
    {
        var sb = new StringBuilder();
        sb.Append("# The task (TASK.md)\n\n").Append(task.TaskText.TrimEnd()).Append("\n\n");
        if (task.Hints.Count == 0) sb.Append("# Hints\n\nNone for this run.\n\n");
        foreach (var (title, text) in task.Hints) sb.Append("# ").Append(title).Append("\n\n").Append(text.TrimEnd()).Append("\n\n");
        sb.Append("# The engine's API (API.md)\n\n").Append(task.Api.TrimEnd()).Append("\n\n");
        sb.Append("# Train.cs: ").Append(programTitle).Append("\n\n```csharp\n").Append(program.TrimEnd('\n')).Append("\n```\n\n");
        sb.Append("# What to do\n\n").Append(instruction).Append('\n');
        return sb.ToString();
    }
}
