using System.CommandLine;
using Speedrun.Cli.Support;
using Speedrun.Benchmark.Store;

namespace Speedrun.Cli.Commands;

/// <summary>`speedrun store import FILE [--store PATH]`: merges another results store (a GPU machine's, a colleague's)
/// into this one, run by run; importing the same file again adds nothing.</summary>
internal static class StoreCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The results store (.db) to import" };
        var store = new Option<string?>("--store") { Description = $"Results store to import into (default: ${StoreLocation.Variable} or results/speedrun.db in the repository)" };
        var import = new Command("import", "Add the runs and workspaces of another results store that this one lacks.") { file, store };
        import.SetAction(parse => UserErrors.Guard(() => Import(parse.GetValue(file)!, parse.GetValue(store))));
        return new Command("store", "Work with results stores.") { import };
    }

    static int Import(string file, string? storeOption)
    {
        if (!File.Exists(file)) throw new UserError($"{Path.GetFullPath(file)}: no such results store.");
        using var store = ResultsStore.Open(StoreLocation.Resolve(storeOption));
        var result = store.Import(file);
        Console.WriteLine($"imported {result.Added} run(s) and {result.Workspaces} workspace(s) from {Path.GetFullPath(file)} into {store.Path}" +
                          (result.AlreadyHere > 0 ? $"; {result.AlreadyHere} run(s) were already here" : "") +
                          (result.StillRunning > 0 ? $"; {result.StillRunning} still running there, left out" : ""));
        return 0;
    }
}
