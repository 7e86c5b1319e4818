using System.Globalization;
using System.Reflection;
using System.Runtime.Loader;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// A training program compiled as the runner compiles it and loaded into this process, so tools that study a
/// record (the doctor, the oracle tests, the benchmarks) reach the very types it defines, such as its model
/// and its Hyperparameters record. Each source file is compiled once per process.
/// </summary>
public sealed class LoadedProgram
{
    static readonly Dictionary<string, LoadedProgram> Cache = new();

    LoadedProgram(string sourcePath, Assembly assembly) => (SourcePath, Assembly) = (sourcePath, assembly);

    public string SourcePath { get; }
    public Assembly Assembly { get; }

    /// <summary>Compiles and loads <paramref name="sourcePath"/>; a compile error throws, listing every error.</summary>
    public static LoadedProgram Load(string sourcePath)
    {
        var full = Path.GetFullPath(sourcePath);
        lock (Cache)
        {
            if (Cache.TryGetValue(full, out var cached)) return cached;
            var name = Path.GetFileName(Path.GetDirectoryName(full)) ?? "program";
            var dll = Path.Combine(Path.GetTempPath(), "speedrun-programs", $"{name}-{Guid.NewGuid():N}.dll");
            var result = ProgramCompiler.Compile(full, dll);
            if (!result.Success)
                throw new InvalidOperationException($"{full} does not compile:\n" + string.Join("\n", result.Errors));
            var program = new LoadedProgram(full, AssemblyLoadContext.Default.LoadFromAssemblyPath(dll));
            Cache[full] = program;
            return program;
        }
    }

    /// <summary>A type the program defines (Gpt, Hyperparameters, ...).</summary>
    public Type Type(string name) =>
        Assembly.GetType(name) ?? throw new InvalidOperationException($"{SourcePath} defines no type {name}.");

    /// <summary>The program's Hyperparameters with some init-only properties set.</summary>
    public object Hyperparameters(params (string Name, object Value)[] values)
    {
        var type = Type("Hyperparameters");
        var hp = Activator.CreateInstance(type)!;
        foreach (var (name, value) in values) Property(type, name).SetValue(hp, value);
        return hp;
    }

    /// <summary>The same from "Name=Value" texts (command-line overrides), converted to each property's type.</summary>
    public object Hyperparameters(IEnumerable<string> overrides)
    {
        var type = Type("Hyperparameters");
        var values = overrides.Select(o =>
        {
            var parts = o.Split('=', 2);
            if (parts.Length != 2) throw new ArgumentException($"'{o}': expected Name=Value with Name a Hyperparameters property");
            var property = Property(type, parts[0]);
            return (parts[0], Convert.ChangeType(parts[1], property.PropertyType, CultureInfo.InvariantCulture));
        }).ToArray();
        return Hyperparameters(values);
    }

    /// <summary>A property value of an instance of one of the program's types.</summary>
    public static T Get<T>(object instance, string property) =>
        (T)(Property(instance.GetType(), property).GetValue(instance)
            ?? throw new InvalidOperationException($"{instance.GetType().Name}.{property} is null."));

    /// <summary>Runs a reflective call into a program, rethrowing what the program threw rather than the reflection
    /// wrapper.</summary>
    public static T Unwrap<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    static PropertyInfo Property(Type type, string name) =>
        type.GetProperty(name) ?? throw new ArgumentException($"{type.Name} has no property {name}.");
}
