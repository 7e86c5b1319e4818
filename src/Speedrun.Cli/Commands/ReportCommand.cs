using System.CommandLine;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Reports;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun report --out DIR [--track T] [--store PATH]`: report.md and report.html with PNG plots
/// (FSR per task and hint setting, validation loss against training time, verdicts) and the data behind each.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "A new or empty folder for the report", Required = true };
        var track = new Option<string?>("--track") { Description = "Only this track (default: every track in the store)" };
        var store = new Option<string?>("--store") { Description = $"Results store (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
        var command = new Command("report", "Write report.md and report.html with plots and their data from the results store.")
        {
            output, track, store,
        };
        command.SetAction(parse => UserErrors.Guard(() => Write(parse.GetValue(output)!, parse.GetValue(track), parse.GetValue(store))));
        return command;
    }

    static int Write(string outDir, string? track, string? storeOption)
    {
        var path = StoreLocation.ResolveExisting(storeOption);
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new UserError($"{outDir} already exists and is not empty; reports never overwrite files. Choose a new folder.");
        using var store = ResultsStore.Open(path);
        var runs = store.Runs(track: track);
        if (runs.Count == 0)
            throw new UserError($"No runs{(track is null ? "" : $" on track '{track}'")} in {path}; nothing to report.");
        var targets = TrackTargets();
        var report = BenchmarkReport.Build(runs, track, path, name => targets.TryGetValue(name, out var t) ? t : null);
        var files = ReportWriter.Write(report, outDir);
        Console.WriteLine($"report: {Path.GetFullPath(Path.Combine(outDir, ReportWriter.HtmlFile))}");
        foreach (var f in files) Console.WriteLine($"  {f}");
        foreach (var t in report.Tracks)
            foreach (var p in t.Scores.Problems) Console.Error.WriteLine($"not scored: {p}");
        return 0;
    }

    /// <summary>Target losses of the catalog's tracks, for the loss plot; none when there is no catalog here.</summary>
    static Dictionary<string, double> TrackTargets()
    {
        try
        {
            return BenchmarkCatalog.LoadDefault().Tracks.ToDictionary(t => t.Name, t => t.TargetValLoss);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or InvalidDataException or FileNotFoundException)
        {
            return [];
        }
    }
}
