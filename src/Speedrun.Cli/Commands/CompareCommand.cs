using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun compare --hints A --hints B [--agent X] [--track T] [--json]`: the difference in FSR between two
/// hint settings, per task and over tasks, with intervals that carry the reference times' noise
/// (<see cref="HintComparison"/>).</summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var hints = new Option<string[]>("--hints") { Description = "The two hint settings, A then B (none, 1, 2, 3, 1,2, 1,2,3)", Required = true };
        var agent = new Option<string?>("--agent") { Description = "Only runs with this agent label" };
        var track = new Option<string?>("--track") { Description = "Only this track" };
        var store = new Option<string?>("--store") { Description = $"Results store (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
        var json = new Option<bool>("--json") { Description = "Print the comparison as JSON" };
        var command = new Command("compare", "Compare two hint settings: FSR(B) − FSR(A) per task and over tasks, with bootstrap intervals.")
        {
            hints, agent, track, store, json,
        };
        command.SetAction(parse => UserErrors.Guard(() =>
            Show(parse.GetValue(hints) ?? [], parse.GetValue(agent), parse.GetValue(track), parse.GetValue(store), parse.GetValue(json))));
        return command;
    }

    static int Show(string[] hints, string? agent, string? track, string? storeOption, bool json)
    {
        if (hints.Length != 2) throw new UserError($"give --hints twice, A then B (got {hints.Length}): e.g. --hints none --hints 1,2,3");
        using var store = ResultsStore.Open(StoreLocation.ResolveExisting(storeOption));
        var report = HintComparison.Compute(store.Runs(track: track), hints[0], hints[1], agent, track);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(report, ReportWriter.Json));
            return 0;
        }
        var inv = CultureInfo.InvariantCulture;
        string F(double v) => v.ToString("F3", inv);
        if (report.Tasks.Count == 0)
            Console.WriteLine($"No task has scored runs with both hints {hints[0]} and hints {hints[1]}{(agent is null ? "" : $" by agent {agent}")}.");
        else
        {
            TableView.Write(["track", "task", $"runs {hints[0]}", $"runs {hints[1]}", $"FSR {hints[0]}", $"FSR {hints[1]}", "B − A", "95% CI"],
                report.Tasks.Select(t => (IReadOnlyList<string>)[t.Track, t.Task.ToString(inv), t.RunsA.ToString(inv), t.RunsB.ToString(inv),
                    F(t.FsrA), F(t.FsrB), F(t.Difference), $"[{F(t.Low)}, {F(t.High)}]"]),
                title: $"hints {hints[1]} against hints {hints[0]}{(agent is null ? "" : $", agent {agent}")}");
            Console.WriteLine($"over {report.Tasks.Count} task(s): B − A = {F(report.Difference!.Value)}, 95% CI [{F(report.Low!.Value)}, {F(report.High!.Value)}] " +
                              "(hierarchical bootstrap: tasks, then each task's calibrations and runs)");
        }
        foreach (var p in report.Problems) Console.WriteLine($"not compared: {p}");
        return 0;
    }
}
