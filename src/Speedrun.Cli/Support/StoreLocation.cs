using Speedrun.Benchmark.Catalog;

namespace Speedrun.Cli.Support;

/// <summary>Where the results store is: --store, else $SPEEDRUN_STORE, else results/speedrun.db under the
/// repository root (SPEEDRUN_HOME, or the repository around the current directory).</summary>
internal static class StoreLocation
{
    public const string Variable = "SPEEDRUN_STORE";

    public static string Resolve(string? option, string? root = null)
    {
        if (!string.IsNullOrWhiteSpace(option)) return Path.GetFullPath(option);
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } fromEnv) return Path.GetFullPath(fromEnv);
        return Path.Combine(root ?? BenchmarkCatalog.FindRoot(), "results", "speedrun.db");
    }

    /// <summary>For commands that only read: the store must exist already.</summary>
    public static string ResolveExisting(string? option)
    {
        var path = Resolve(option);
        if (!File.Exists(path))
            throw new UserError($"No results store at {path}. `speedrun run` and `speedrun calibrate` create it; " +
                                $"or point --store or {Variable} at an existing one.");
        return path;
    }
}
