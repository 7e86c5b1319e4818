using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Commands;

/// <summary>
/// `speedrun score [--track T] [--store PATH] [--json]`: FSR per task and hint setting from the stored agent
/// runs and calibrations (same track and hardware fingerprint only): runs, ok count, verdicts, mean FSR, IQM,
/// 95% bootstrap CIs (10,000 seeded resamples) and the FSR noise of each task.
/// </summary>
internal static class ScoreCommand
{
    public static Command Create()
    {
        var track = new Option<string?>("--track") { Description = "Only this track (default: every track with agent runs)" };
        var store = new Option<string?>("--store") { Description = $"Results store (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
        var json = new Option<bool>("--json") { Description = "Print the scores as JSON" };
        var command = new Command("score", "Score the stored agent runs: FSR per task and hint setting, with bootstrap CIs.")
        {
            track, store, json,
        };
        command.SetAction(parse => UserErrors.Guard(() => Show(parse.GetValue(track), parse.GetValue(store), parse.GetValue(json))));
        return command;
    }

    static int Show(string? track, string? storeOption, bool json)
    {
        var path = StoreLocation.ResolveExisting(storeOption);
        using var store = ResultsStore.Open(path);
        var runs = store.Runs(track: track);
        var report = ScoreBoard.Compute(runs, track);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(report, ReportWriter.Json));
            return 0;
        }
        if (report.Cells.Count == 0)
        {
            Console.WriteLine($"No agent runs{(track is null ? "" : $" on track '{track}'")} in {path}: " +
                              "make a workspace with `speedrun task N --out DIR`, then `speedrun run DIR`.");
            return 0;
        }
        foreach (var block in report.Cells.GroupBy(c => (c.Track, c.Fingerprint)))
        {
            Console.WriteLine();
            TableView.Write(
                ["task", "hints", "agent", "runs", "ok", "verdicts", "mean FSR", "95% CI", "IQM", "95% CI", "noise", "p faster"],
                block.Select(c => (IReadOnlyList<string>)[
                    c.Task.ToString(CultureInfo.InvariantCulture), c.Hints, c.Agent ?? "-", c.Runs.ToString(CultureInfo.InvariantCulture),
                    c.Ok.ToString(CultureInfo.InvariantCulture), c.VerdictsText, F(c.MeanFsr), Ci(c.MeanLow, c.MeanHigh),
                    F(c.Iqm), Ci(c.IqmLow, c.IqmHigh), c.Noise is { } n ? "±" + F(n) : "-", F(c.PFaster)]),
                title: $"track {block.Key.Track} | hardware {block.Key.Fingerprint}");
            foreach (var c in block.Where(c => c.UnderLoad > 0))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"task {c.Task}, hints {c.Hints}{(c.Agent is null ? "" : $", agent {c.Agent}")}: {c.UnderLoad} of {c.Runs} runs timed while " +
                    $"other work kept more than {Benchmark.Runs.RunConditions.BusyCores} CPU cores busy"));
            foreach (var c in block.Where(c => c.Unsandboxed > 0))
                Console.WriteLine($"task {c.Task}, hints {c.Hints}{(c.Agent is null ? "" : $", agent {c.Agent}")}: {c.Unsandboxed} of {c.Runs} runs unsandboxed (their programs could " +
                                  "read the validation shards and the repository; see `speedrun doctor`)");
            foreach (var t in report.Tasks.Where(t => t.Track == block.Key.Track && t.Fingerprint == block.Key.Fingerprint && t.Problem is null))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"task {t.Task}: t_{t.Task} = {t.Start!.MedianMs / 1000:F2} s ({t.Start.OkRuns} ok of {t.Start.Runs}), " +
                    $"t_{t.NextRecord} = {t.Next!.MedianMs / 1000:F2} s ({t.Next.OkRuns} ok of {t.Next.Runs}), FSR noise ±{t.Noise:F3}" +
                    $"{(t.SameSession ? ", references timed in the agent runs' own sessions" : "")}"));
        }
        if (report.Problems.Count > 0)
        {
            Console.WriteLine();
            foreach (var p in report.Problems) Console.WriteLine($"not scored: {p}");
        }
        Console.WriteLine();
        Console.WriteLine($"FSR = (t_N - t_agent) / (t_N - t_N+1); non-ok runs score 0. CIs: percentile bootstrap, {report.Resamples:N0} resamples, seed {report.Seed}.");
        Console.WriteLine("p faster: one-sided permutation test of the ok agent runs' times against record N's calibrations (a new record needs p < 0.01).");
        return 0;
    }

    static string F(double? v) => v is { } d ? d.ToString("F3", CultureInfo.InvariantCulture) : "-";
    static string Ci(double? low, double? high) => low is { } l && high is { } h ? $"[{F(l)}, {F(h)}]" : "-";
}
