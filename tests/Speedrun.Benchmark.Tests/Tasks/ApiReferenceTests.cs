using System.Text.RegularExpressions;
using Speedrun.Benchmark.Runs;
using Speedrun.Benchmark.Tasks;
using Speedrun.Tests.Shared;

namespace Speedrun.Benchmark.Tests.Tasks;

/// <summary>API.md documents exactly what a program compiles against, and its worked example is a working program.</summary>
public class ApiReferenceTests
{
    static readonly Lazy<string> Text = new(ApiReference.Render);

    [Fact]
    public void EveryPublicEngineTypeHasASectionWithItsSummary()
    {
        var headings = Text.Value.Split('\n').Where(l => l.StartsWith("### ", StringComparison.Ordinal)).ToList();
        foreach (var type in ApiReference.Assemblies.SelectMany(a => a.GetExportedTypes()))
        {
            string name = type.IsGenericType ? type.Name[..type.Name.IndexOf('`')] : type.Name;
            if (type.IsNested) name = type.DeclaringType!.Name + "." + name;
            Assert.True(headings.Any(h => Regex.IsMatch(h, $@"\b{Regex.Escape(name)}(<|$)")), $"API.md has no section for {type.FullName}");
        }
        // Summaries come from the XML docs (one per type, one per member line).
        Assert.Contains("A dense row-major tensor in device memory", Text.Value);
        Assert.Contains("- `static Tensor Matmul(Tensor a, Tensor b)` — torch.matmul", Text.Value);
        Assert.Contains("- `Tensor Lerp_(Tensor end, float weight)`", Text.Value);
        // Nothing of the harness.
        Assert.DoesNotContain("ResultsStore", Text.Value);
        Assert.DoesNotContain("Speedrun.Benchmark", Text.Value);
    }

    [Fact]
    public void TheCustomOpExampleCompilesAndPassesGradcheck()
    {
        var example = Regex.Match(Text.Value, "```csharp\n(sealed class ScaledSquare.*?)```", RegexOptions.Singleline).Groups[1].Value;
        Assert.NotEmpty(example);
        // The example ends with a use of the op on some x; give it one, then check the gradient.
        var program = """
            using ILGPU;
            using ILGPU.Runtime;
            using Speedrun.Core.Autograd;
            using Speedrun.Kernels.Ops;

            using var device = Device.Create(Speedrun.Kernels.Runtime.DeviceKind.Cpu);
            using var scope = new TensorScope();
            var x = Tensor.FromArray(device, [0.5f, -1.5f, 2f, 3f, -0.25f], 5);
            x.RequiresGrad = true;
            var result = Gradcheck.Check(inputs => new ScaledSquare(0.5f).Apply(inputs[0]), [x]);
            Console.WriteLine($"checked {result.ElementsChecked}");

            """ + Regex.Replace(example, @"\nvar y = .*\n?$", "\n");
        using var dir = new TempDir();
        var source = Path.Combine(dir.Path, "Train.cs");
        File.WriteAllText(source, program);
        var compiled = ProgramCompiler.Compile(source, Path.Combine(dir.Path, "example.dll"));
        Assert.True(compiled.Success, string.Join("\n", compiled.Errors));
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        try { Assert.Equal(0, ProgramEntry.Run(compiled.AssemblyPath!, [])); }
        finally { Console.SetOut(previous); }
        Assert.Contains("checked 5", output.ToString());
    }
}
