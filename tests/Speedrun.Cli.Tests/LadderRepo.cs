using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Store;
using Speedrun.Benchmark.Tasks;

namespace Speedrun.Cli.Tests;

/// <summary>
/// A throw-away copy of the fixture ladder (Fixtures/ladder: records 01 and 02 with Train.cs, hints for task
/// 1, the `ladder` track) in a temp folder, with its own results store; runs/ lands inside the copy.
/// </summary>
public sealed class LadderRepo : IDisposable
{
    public const string Track = "ladder";

    public LadderRepo()
    {
        Root = Path.Combine(Path.GetTempPath(), "speedrun-cli-tests", Guid.NewGuid().ToString("N"));
        Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "ladder"), Root);
        StorePath = Path.Combine(Root, "results", "speedrun.db");
    }

    public string Root { get; }
    public string StorePath { get; }
    public string RunsDir => Path.Combine(Root, "runs");

    public IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?>
    {
        ["SPEEDRUN_HOME"] = Root,
        ["SPEEDRUN_STORE"] = StorePath,
        // Its own device locks: test classes time their runs side by side on purpose (the machine-wide lock would
        // queue them).
        ["SPEEDRUN_LOCK_DIR"] = Path.Combine(Root, "locks"),
    };

    public string RecordDir(int number) => Directory.GetDirectories(Path.Combine(Root, "records"), $"{number:D2}-*").Single();

    public static string FixtureProgram(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "programs", name);

    /// <summary>Runs `speedrun ARGS` against this repository and store.</summary>
    public CliResult Cli(params string[] args) => SpeedrunCli.Run(Environment, TimeSpan.FromMinutes(10), args);

    /// <summary>A task-1 workspace written and recorded in this repository's store as `speedrun task` does it,
    /// optionally with another Train.cs; <paramref name="register"/> false leaves it out of the store.</summary>
    public string Workspace(string hints = "none", string? program = null, bool register = true)
    {
        var dir = Path.Combine(Root, "workspaces", Guid.NewGuid().ToString("N")[..8]);
        var manifest = TaskWorkspace.Write(BenchmarkCatalog.Load(Root), 1, HintSelection.Parse(hints), dir);
        if (register)
        {
            using var store = ResultsStore.Open(StorePath);
            store.AddWorkspace(WorkspaceRecord.Of(manifest, dir));
        }
        if (program is not null) File.Copy(program, Path.Combine(dir, "Train.cs"), overwrite: true);
        return dir;
    }

    public IReadOnlyList<RunRecord> StoredRuns(bool withText = true)
    {
        using var store = ResultsStore.Open(StorePath);
        return store.Runs(withText: withText);
    }

    static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(from)) Copy(dir, Path.Combine(to, Path.GetFileName(dir)));
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
