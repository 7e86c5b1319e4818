using Speedrun.Benchmark.Runs;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Runs;

/// <summary>
/// What a training program compiles against: the engine and ILGPU, never the harness. A program that names the
/// harness fails to compile with one more error that says why.
/// </summary>
public sealed class ProgramCompilerTests : IDisposable
{
    const string Explanation = "Training programs compile against Speedrun.Core, Speedrun.Kernels and ILGPU only";

    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    ProgramCompiler.Result Compile(string source)
    {
        var path = _dir.File($"program-{Guid.NewGuid():N}.cs");
        File.WriteAllText(path, source);
        return ProgramCompiler.Compile(path, Path.ChangeExtension(path, ".dll"));
    }

    static ProgramCompiler.Diagnostic HarnessError(ProgramCompiler.Result result) =>
        Assert.Single(result.Errors, e => e.Id == ProgramCompiler.HarnessNotAvailableId);

    [Fact]
    public void ReferencesExactlyTheEngineAndIlgpu()
    {
        Assert.Equal(["Speedrun.Core", "Speedrun.Kernels", "ILGPU", "ILGPU.Algorithms"],
            ProgramCompiler.EngineAssemblies.Select(a => a.GetName().Name));
    }

    [Fact]
    public void ProgramUsingTheEngineCompiles()
    {
        var result = Compile("""
            using Speedrun.Core.Autograd;
            using Speedrun.Core.Data;
            using Speedrun.Core.Training;

            Console.WriteLine($"{typeof(RunContext).Name} {typeof(Tensor).Name} {typeof(ShardSet).Name} {ShardFormat.VocabSize}");
            Console.WriteLine(typeof(Device).FullName + ILGPU.Algorithms.XMath.Sqrt(4f));
            """);
        Assert.True(result.Success, string.Join("\n", result.Errors));
        Assert.True(File.Exists(result.AssemblyPath));
    }

    [Fact]
    public void NamingTheResultsStoreFailsAndSaysTheHarnessIsOutOfReach()
    {
        var result = Compile("""
            using Speedrun.Core.Training;

            using var ctx = RunContext.FromEnvironment();
            using var store = Speedrun.Benchmark.Store.ResultsStore.Open("results.db");
            """);
        Assert.False(result.Success);
        Assert.Contains(result.Errors, e => e.Id == "CS0234");
        var explanation = HarnessError(result);
        Assert.Equal("error", explanation.Severity);
        Assert.Equal(4, explanation.Line);
        Assert.Contains("'Speedrun.Benchmark.Store.ResultsStore.Open'", explanation.Message);
        Assert.Contains(Explanation, explanation.Message);
        Assert.Contains("by design", explanation.Message);
        Assert.Equal(explanation, result.Errors.Last()); // after the compiler's own errors, as their summary
    }

    [Fact]
    public void UsingDirectivesAndTypeNamesOfTheHarnessAreExplainedOnce()
    {
        var result = Compile("""
            using Speedrun.Benchmark.Store;
            using Speedrun.Cli.Commands;
            using Speedrun.Core.Data;

            ResultsStore? store = null;
            var tokens = Gpt2Tokenizer.Shared.Encode("moved to the harness");
            Console.WriteLine($"{store} {tokens.Length}");
            """);
        Assert.False(result.Success);
        var explanation = HarnessError(result);
        Assert.Equal(1, explanation.Line);
        foreach (var name in new[] { "'Speedrun.Benchmark.Store'", "'Speedrun.Cli.Commands'", "'ResultsStore'", "'Gpt2Tokenizer'" })
            Assert.Contains(name, explanation.Message);
        Assert.Contains(Explanation, explanation.Message);
    }

    [Fact]
    public void OrdinaryErrorsGetNoHarnessExplanation()
    {
        var result = Compile("""
            using Speedrun.Core.Training;

            int steps = "many";
            var model = new NoSuchModel();
            Console.WriteLine($"{steps} {model}");
            """);
        Assert.False(result.Success);
        Assert.Contains(result.Errors, e => e.Id == "CS0029");
        Assert.Contains(result.Errors, e => e.Id == "CS0246");
        Assert.DoesNotContain(result.Errors, e => e.Id == ProgramCompiler.HarnessNotAvailableId);
    }
}
