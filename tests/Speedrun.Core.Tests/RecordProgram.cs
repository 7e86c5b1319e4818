using System.Reflection;
using System.Runtime.Loader;
using Speedrun.Core.Benchmark;
using Speedrun.Core.Benchmark.Runs;

namespace Speedrun.Core.Tests;

/// <summary>Compiles a record's Train.cs once (as the runner does) and reaches its model types by reflection,
/// so tests exercise the very program the benchmark runs.</summary>
public sealed class RecordProgram
{
    static readonly Dictionary<string, RecordProgram> Cache = new();

    RecordProgram(Assembly assembly) => Assembly = assembly;

    public Assembly Assembly { get; }

    public static RecordProgram Load(string recordFolder)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(recordFolder, out var cached)) return cached;
            var root = Catalog.FindRoot(AppContext.BaseDirectory);
            var source = Path.Combine(root, "records", recordFolder, "Train.cs");
            var dll = Path.Combine(Path.GetTempPath(), "speedrun-tests", $"{recordFolder}-{Guid.NewGuid():N}.dll");
            var result = ProgramCompiler.Compile(source, dll);
            Assert.True(result.Success, string.Join("\n", result.Errors));
            var program = new RecordProgram(AssemblyLoadContext.Default.LoadFromAssemblyPath(dll));
            Cache[recordFolder] = program;
            return program;
        }
    }

    public Type Type(string name) => Assembly.GetType(name) ?? throw new InvalidOperationException($"{name} not found in the program");

    /// <summary>A record's Hyperparameters with some init-only properties set.</summary>
    public object Hyperparameters(params (string Name, object Value)[] values)
    {
        var type = Type("Hyperparameters");
        var hp = Activator.CreateInstance(type)!;
        foreach (var (name, value) in values)
            (type.GetProperty(name) ?? throw new InvalidOperationException($"Hyperparameters.{name} not found"))
                .SetValue(hp, value);
        return hp;
    }
}
