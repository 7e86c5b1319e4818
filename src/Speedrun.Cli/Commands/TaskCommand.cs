using System.CommandLine;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Store;
using Speedrun.Benchmark.Tasks;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun task N --hints H --out DIR [--store PATH]`: write an agent's workspace for task N (record N's
/// Train.cs, the chosen hints about record N+1, TASK.md, task.json) and record it in the results store, which is
/// where `speedrun run` later takes the run's task and hints from.</summary>
internal static class TaskCommand
{
    public static Command Create()
    {
        var number = new Argument<int>("N") { Description = "Task number = its start record (see `speedrun records`)" };
        var hints = new Option<string>("--hints")
        {
            Description = "none, or hint levels: 0 (the exact diff), 1 (pseudocode), 2 (description), 3 (mini-paper), e.g. 1 or 1,2 or 1,2,3",
            DefaultValueFactory = _ => "none",
        };
        var output = new Option<string>("--out") { Description = "A new or empty folder for the workspace", Required = true };
        var store = new Option<string?>("--store") { Description = $"Results store that records the workspace (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
        var command = new Command("task", "Write the workspace an agent works in for task N: record N's program plus hints about N+1.")
        {
            number, hints, output, store,
        };
        command.SetAction(parse => UserErrors.Guard(() =>
            Write(parse.GetValue(number), parse.GetValue(hints)!, parse.GetValue(output)!, parse.GetValue(store))));
        return command;
    }

    static int Write(int number, string hintsText, string outDir, string? storeOption)
    {
        if (!HintSelection.TryParse(hintsText, out var hints, out var error)) throw new UserError($"--hints: {error}");
        var catalog = BenchmarkCatalog.LoadDefault();
        var manifest = TaskWorkspace.Write(catalog, number, hints, outDir);
        using (var store = ResultsStore.Open(StoreLocation.Resolve(storeOption, catalog.Root)))
            store.AddWorkspace(WorkspaceRecord.Of(manifest, outDir));
        Console.WriteLine($"task {manifest.Task} (record {manifest.StartRecord.Number} to {manifest.NextRecord}), hints {manifest.HintSelection}: " +
                          $"{Path.GetFullPath(outDir)}");
        foreach (var file in manifest.Files) Console.WriteLine($"  {file}");
        Console.WriteLine($"  {TaskManifest.FileName}");
        Console.WriteLine($"Edit {manifest.TrainFile}, then time it with `speedrun run {outDir} --track T` " +
                          $"(tracks: {string.Join(", ", catalog.Tracks.Select(t => t.Name))}).");
        return 0;
    }
}
