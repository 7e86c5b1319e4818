using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// Compiles a training program (one C# file with top-level statements) against the .NET reference
/// assemblies and our engine, with Roslyn: no SDK is needed where it runs. The program sees the same
/// implicit usings as the project's own code, plus `Device` meaning our device type.
/// </summary>
public static class ProgramCompiler
{
    /// <summary>One compiler message, located in the program file.</summary>
    public sealed record Diagnostic(string File, int Line, int Column, string Severity, string Id, string Message)
    {
        public override string ToString() => $"{File}({Line},{Column}): {Severity} {Id}: {Message}";
    }

    public sealed record Result(bool Success, string? AssemblyPath, IReadOnlyList<Diagnostic> Diagnostics, TimeSpan Elapsed)
    {
        public IEnumerable<Diagnostic> Errors => Diagnostics.Where(d => d.Severity == "error");
    }

    const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using Device = Speedrun.Kernels.Device.Device;
        """;

    /// <summary>Compiles <paramref name="sourcePath"/> into <paramref name="outputPath"/> (a .dll).</summary>
    public static Result Compile(string sourcePath, string outputPath)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        if (!File.Exists(sourcePath)) throw new FileNotFoundException($"Training program not found: {sourcePath}", sourcePath);
        var text = File.ReadAllText(sourcePath);
        var options = new CSharpParseOptions(LanguageVersion.Latest);
        var trees = new[]
        {
            CSharpSyntaxTree.ParseText(text, options, path: Path.GetFullPath(sourcePath), encoding: System.Text.Encoding.UTF8),
            CSharpSyntaxTree.ParseText(GlobalUsings, options, path: "GlobalUsings.g.cs"),
        };
        var compilation = CSharpCompilation.Create(
            Path.GetFileNameWithoutExtension(outputPath),
            trees,
            References(),
            new CSharpCompilationOptions(OutputKind.ConsoleApplication,
                optimizationLevel: OptimizationLevel.Release,
                allowUnsafe: true,
                nullableContextOptions: NullableContextOptions.Enable,
                deterministic: true));

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
        using var peStream = new MemoryStream();
        var emit = compilation.Emit(peStream);
        var diagnostics = emit.Diagnostics
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Select(Convert)
            .OrderBy(d => d.Severity == "error" ? 0 : 1).ThenBy(d => d.Line)
            .ToList();
        if (!emit.Success) return new Result(false, null, diagnostics, started.Elapsed);
        File.WriteAllBytes(outputPath, peStream.ToArray());
        return new Result(true, outputPath, diagnostics, started.Elapsed);
    }

    static Diagnostic Convert(Microsoft.CodeAnalysis.Diagnostic d)
    {
        var span = d.Location.GetMappedLineSpan();
        return new Diagnostic(span.Path ?? "", span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1,
            d.Severity.ToString().ToLowerInvariant(), d.Id, d.GetMessage());
    }

    static IReadOnlyList<MetadataReference> _references = [];

    /// <summary>The framework reference pack, plus our engine and ILGPU (what a program may use).</summary>
    static IReadOnlyList<MetadataReference> References()
    {
        if (_references.Count > 0) return _references;
        var refs = new List<MetadataReference>(Basic.Reference.Assemblies.Net100.References.All);
        foreach (var assembly in new[]
                 {
                     typeof(Core.Training.RunContext).Assembly, typeof(Kernels.Device.Device).Assembly,
                     typeof(ILGPU.Context).Assembly, typeof(ILGPU.Algorithms.XMath).Assembly,
                 })
            refs.Add(Reference(assembly));
        return _references = refs;
    }

    static MetadataReference Reference(Assembly assembly)
    {
        if (!string.IsNullOrEmpty(assembly.Location)) return MetadataReference.CreateFromFile(assembly.Location);
        throw new InvalidOperationException(
            $"Cannot reference {assembly.GetName().Name}: it has no file location (a single-file build must be " +
            "published with IncludeAllContentForSelfExtract=true).");
    }
}
