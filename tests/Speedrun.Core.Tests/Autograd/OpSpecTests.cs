using Speedrun.Benchmark.OpSpecs;
using Speedrun.Tests.Torch;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Speedrun.Core.Tests.Autograd;

/// <summary>
/// Every engine op against TorchSharp, from its spec (src/Speedrun.Benchmark/OpSpecs): for each test case the
/// same float32 inputs go through our op on the CPU device and through the TorchSharp expression in float64;
/// outputs and the gradient of every float input (for the case's seeded output gradients) must agree within
/// the spec's tolerances. Each case runs twice: with one thread per row and with the warp-cooperative row path
/// CUDA takes.
/// </summary>
public class OpSpecTests
{
    static readonly Lazy<Device> WarpRows = new(Device.CreateCpuWithWarpRows);

    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var spec in AllOpSpecs.All)
            foreach (var c in spec.TestCases)
                foreach (bool warpRows in new[] { false, true })
                    data.Add(spec.Name, c.Label, warpRows);
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void MatchesTorch(string specName, string caseLabel, bool warpRows)
    {
        var spec = AllOpSpecs.Get(specName);
        var c = spec.TestCases.Single(x => x.Label == caseLabel);
        Check(spec, c, warpRows ? WarpRows.Value : Kernels.Tests.OpCheck.Cpu, spec.Forward, spec.Backward);
    }

    public static TheoryData<string> Specs()
    {
        var data = new TheoryData<string>();
        foreach (var spec in AllOpSpecs.All) data.Add(spec.Name);
        return data;
    }

    /// <summary>The doctor's case (larger: long sums, 50,257 classes) against float64 with the device tolerances,
    /// which the doctor doubles to compare CUDA with the CPU: this is what makes that doubling sound.</summary>
    [Theory, MemberData(nameof(Specs))]
    public void DeviceCaseMatchesTorch(string specName)
    {
        var spec = AllOpSpecs.Get(specName);
        Check(spec, spec.DeviceCase, Kernels.Tests.OpCheck.Cpu, spec.DeviceForward ?? spec.Forward, spec.DeviceBackward ?? spec.Backward);
    }

    static void Check(OpSpec spec, OpCase c, Device device, Tolerance forward, Tolerance backward)
    {
        var inputs = OpExecution.Inputs(spec, c);
        var ours = OpExecution.Execute(device, spec, c, inputs);

        using var scope = torch.NewDisposeScope();
        var leaves = inputs.Select(i => i.Ints is { } ints
            ? torch.tensor(ints.Select(v => (long)v).ToArray(), i.Shape.Select(d => (long)d).ToArray())
            : torch.tensor(i.Floats!.Select(v => (double)v).ToArray(), i.Shape.Select(d => (long)d).ToArray()).requires_grad_()).ToArray();
        var outputs = TorchOps.Reference[spec.Name](leaves);
        Assert.Equal(ours.Outputs.Count, outputs.Length);
        var failures = new List<string>();
        for (int j = 0; j < outputs.Length; j++)
        {
            Assert.Equal(outputs[j].shape, ours.OutputShapes[j].Select(d => (long)d).ToArray());
            var report = OpExecution.Compare($"{spec.Name} {c.Label}: output {j}", Values(outputs[j]), ours.Outputs[j], forward);
            if (report is not null) failures.Add(report);
        }
        if (spec.HasBackward)
        {
            var dy = OpExecution.OutputGradients(spec, c, ours.OutputShapes);
            var floatLeaves = leaves.Where((_, i) => inputs[i].Floats is not null).ToArray();
            var grads = torch.autograd.grad(outputs,
                floatLeaves,
                dy.Select((g, j) => torch.tensor(g.Select(v => (double)v).ToArray(), outputs[j].shape)).ToArray(),
                allow_unused: true);
            int k = 0;
            for (int i = 0; i < inputs.Length; i++)
            {
                if (inputs[i].Floats is null) continue;
                var expected = grads[k++] is { } g && g.numel() > 0 ? Values(g) : new double[inputs[i].Floats!.Length];
                var report = OpExecution.Compare($"{spec.Name} {c.Label}: gradient of input {i}", expected, ours.InputGrads[i]!, backward);
                if (report is not null) failures.Add(report);
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    static double[] Values(TTensor t) => TensorData.Read<double>(t.detach().to_type(ScalarType.Float64));

    [Fact]
    public void EverySpecHasAReferenceAndEveryReferenceASpec()
    {
        var specs = AllOpSpecs.All.Select(s => s.Name).ToList();
        Assert.Equal(specs.Count, specs.Distinct().Count());
        Assert.Empty(specs.Except(TorchOps.Reference.Keys));
        Assert.Empty(TorchOps.Reference.Keys.Except(specs));
        foreach (var s in AllOpSpecs.All)
        {
            Assert.NotEmpty(s.TestCases);
            Assert.Equal(s.TestCases.Count, s.TestCases.Select(c => c.Label).Distinct().Count());
        }
    }

    /// <summary>The comparison can fail: a reference that differs by one ulp-scale nudge at one element is reported.</summary>
    [Fact]
    public void ComparisonReportsTheWorstElement()
    {
        double[] expected = [1, 2, 3];
        float[] actual = [1, 2.001f, 3];
        var report = OpExecution.Compare("probe", expected, actual, new Tolerance(1e-6, 1e-6));
        Assert.NotNull(report);
        Assert.Contains("worst at [1]", report);
        Assert.Null(OpExecution.Compare("probe", expected, [1f, 2f, 3f], new Tolerance(0, 0)));
    }
}
