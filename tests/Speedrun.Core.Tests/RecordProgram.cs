using Speedrun.Benchmark.Catalog;
using Speedrun.Benchmark.Runs;

namespace Speedrun.Core.Tests;

/// <summary>A record's Train.cs compiled as the runner does (once), so tests exercise the very program the
/// benchmark runs and reach its model types.</summary>
public static class RecordProgram
{
    public static LoadedProgram Load(string recordFolder) =>
        LoadedProgram.Load(Path.Combine(BenchmarkCatalog.FindRoot(AppContext.BaseDirectory), "records", recordFolder, "Train.cs"));
}
