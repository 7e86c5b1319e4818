using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Speedrun.Benchmark.Runs;

/// <summary>
/// Compiles a training program (one C# file with top-level statements) against the .NET reference
/// assemblies, the engine (Speedrun.Core, Speedrun.Kernels) and ILGPU, with Roslyn: no SDK is needed where
/// it runs. The harness (this assembly, the CLI) is deliberately not referenced; a program that names it
/// gets one more error saying so. The program sees the same implicit usings as the project's own code, plus
/// `Device` meaning our device type.
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

        /// <summary>For a run that ended before its program was compiled (its data was unusable).</summary>
        public static Result NotCompiled { get; } = new(false, null, [], TimeSpan.Zero);
    }

    const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using Device = Speedrun.Kernels.Runtime.Device;
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
        if (HarnessExplanation(emit.Diagnostics) is { } explanation)
            diagnostics.Insert(diagnostics.Count(d => d.Severity == "error"), explanation);
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

    /// <summary>The id of the extra error that explains why the harness is out of a program's reach.</summary>
    public const string HarnessNotAvailableId = "SR0001";

    /// <summary>The assemblies besides the framework's that a program compiles against, and nothing more:
    /// the engine (Speedrun.Core, Speedrun.Kernels), ILGPU and ILGPU.Algorithms.</summary>
    public static IReadOnlyList<Assembly> EngineAssemblies { get; } =
    [
        typeof(Core.Training.RunContext).Assembly, typeof(Kernels.Runtime.Device).Assembly,
        typeof(ILGPU.Context).Assembly, typeof(ILGPU.Algorithms.XMath).Assembly,
    ];

    static IReadOnlyList<MetadataReference> _references = [];

    /// <summary>The framework reference pack, plus the engine assemblies (what a program may use).</summary>
    static IReadOnlyList<MetadataReference> References()
    {
        if (_references.Count > 0) return _references;
        var refs = new List<MetadataReference>(Basic.Reference.Assemblies.Net100.References.All);
        foreach (var assembly in EngineAssemblies) refs.Add(Reference(assembly));
        return _references = refs;
    }

    /// <summary>Roslyn's "type or namespace / name not found" errors: the ones a program gets when it names
    /// something that exists only in the harness.</summary>
    static readonly HashSet<string> NotFoundIds = ["CS0103", "CS0234", "CS0246", "CS0400"];

    static readonly string[] HarnessNamespaces = ["Speedrun.Benchmark", "Speedrun.Cli"];

    /// <summary>The names of the harness's public types (ResultsStore, BenchmarkCatalog, ProgramRunner, ...).</summary>
    static readonly Lazy<HashSet<string>> HarnessTypeNames = new(() =>
        typeof(ProgramCompiler).Assembly.GetExportedTypes().Where(t => !t.IsNested).Select(t => t.Name).ToHashSet());

    /// <summary>
    /// When some "not found" error is about the harness (a name under Speedrun.Benchmark or Speedrun.Cli, or
    /// one of the harness's type names), one more error at the first of them that says why: programs compile
    /// against the engine only, by design. Null otherwise.
    /// </summary>
    static Diagnostic? HarnessExplanation(IEnumerable<Microsoft.CodeAnalysis.Diagnostic> diagnostics)
    {
        var names = new List<string>();
        Microsoft.CodeAnalysis.Diagnostic? first = null;
        foreach (var d in diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error && NotFoundIds.Contains(d.Id))
                     .OrderBy(d => d.Location.SourceSpan.Start))
        {
            if (HarnessName(d) is not { } name) continue;
            first ??= d;
            if (!names.Contains(name)) names.Add(name);
        }
        if (first is null) return null;
        var at = Convert(first);
        return at with
        {
            Severity = "error",
            Id = HarnessNotAvailableId,
            Message = $"{string.Join(", ", names.Select(n => $"'{n}'"))} {(names.Count == 1 ? "belongs" : "belong")} to " +
                      "the benchmark harness. Training programs compile against Speedrun.Core, Speedrun.Kernels and " +
                      "ILGPU only; the harness (results store, catalog, runner, scoring, reports, data building) is " +
                      "not available to a program, by design: the harness measures, the program only trains.",
        };
    }

    /// <summary>The harness name a "not found" error is about, or null: the whole dotted name around the
    /// error's location (so `Speedrun.Benchmark.Store` rather than `Benchmark`), when it lies under a harness
    /// namespace or its last part is a harness type name.</summary>
    static string? HarnessName(Microsoft.CodeAnalysis.Diagnostic d)
    {
        if (d.Location.SourceTree is not { } tree) return null;
        var node = tree.GetRoot().FindNode(d.Location.SourceSpan, getInnermostNodeForTie: true);
        var simple = node is Microsoft.CodeAnalysis.CSharp.Syntax.SimpleNameSyntax s ? s.Identifier.ValueText : null;
        while (node.Parent is Microsoft.CodeAnalysis.CSharp.Syntax.QualifiedNameSyntax
               or Microsoft.CodeAnalysis.CSharp.Syntax.AliasQualifiedNameSyntax
               or Microsoft.CodeAnalysis.CSharp.Syntax.MemberAccessExpressionSyntax)
            node = node.Parent;
        var dotted = node.ToString().Replace("global::", "", StringComparison.Ordinal);
        dotted = string.Concat(dotted.Where(c => !char.IsWhiteSpace(c)));
        if (HarnessNamespaces.Any(ns => dotted == ns || dotted.StartsWith(ns + ".", StringComparison.Ordinal)))
            return dotted;
        return simple is not null && HarnessTypeNames.Value.Contains(simple) ? simple : null;
    }

    static MetadataReference Reference(Assembly assembly)
    {
        if (!string.IsNullOrEmpty(assembly.Location)) return MetadataReference.CreateFromFile(assembly.Location);
        throw new InvalidOperationException(
            $"Cannot reference {assembly.GetName().Name}: it has no file location (a single-file build must be " +
            "published with IncludeAllContentForSelfExtract=true).");
    }
}
