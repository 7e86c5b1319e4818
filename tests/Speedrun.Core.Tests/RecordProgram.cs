using Speedrun.Core.Benchmark;
using Speedrun.Core.Benchmark.Runs;

namespace Speedrun.Core.Tests;

/// <summary>A record's Train.cs compiled as the runner does (once), so tests exercise the very program the
/// benchmark runs and reach its model types.</summary>
public static class RecordProgram
{
    public static LoadedProgram Load(string recordFolder) =>
        LoadedProgram.Load(Path.Combine(Catalog.FindRoot(AppContext.BaseDirectory), "records", recordFolder, "Train.cs"));
}
