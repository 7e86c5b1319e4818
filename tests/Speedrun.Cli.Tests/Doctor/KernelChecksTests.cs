using Speedrun.Benchmark.OpSpecs;
using Speedrun.Cli.Doctor;
using Speedrun.Kernels.Runtime;

namespace Speedrun.Cli.Tests.Doctor;

/// <summary>
/// The doctor's CUDA-vs-CPU checks, run here without CUDA: every case must execute and agree, so the GPU machine
/// never meets a broken case. The device-level cases run CPU against CPU; the engine ops run on the CPU device
/// with warp-cooperative rows (the row path CUDA takes) against the plain CPU device, so the comparison crosses
/// two different kernel paths as it does on a GPU. A perturbed result must be reported as a failure.
/// </summary>
public class KernelChecksTests
{
    [Fact]
    public void EveryDeviceCaseRunsAndAgreesOnTheCpu()
    {
        using var a = Device.Create(DeviceKind.Cpu);
        using var b = Device.Create(DeviceKind.Cpu);
        var report = new DoctorReport();
        KernelChecks.Run(a, b, report, TextWriter.Null);
        Assert.Empty(report.Errors);
        Assert.Equal(KernelChecks.Cases().Count(), report.Kernels.Count);
        Assert.All(report.Kernels, k => Assert.True(k.Pass, $"{k.Op}: {k.Failure}"));
    }

    [Fact]
    public void EveryOpSpecAgreesBetweenTheWarpRowAndThePlainCpuDevice()
    {
        using var warpRows = Device.CreateCpuWithWarpRows();
        using var cpu = Device.Create(DeviceKind.Cpu);
        var report = new DoctorReport();
        var log = new StringWriter();
        OpSpecChecks.Run(warpRows, cpu, report, log);
        Assert.Empty(report.Errors);
        Assert.Equal(AllOpSpecs.All.Select(s => s.Name), report.Kernels.Select(k => k.Op));
        Assert.All(report.Kernels, k =>
        {
            Assert.True(k.Pass, $"{k.Op}: {k.Failure}");
            Assert.True(k.Elements > 0, $"{k.Op} compared nothing");
            Assert.NotNull(k.Gradients);
        });
        Assert.DoesNotContain("FAIL", log.ToString());
    }

    [Fact]
    public void APerturbedGradientIsReportedAsAFailure()
    {
        var spec = AllOpSpecs.Get("rms_norm_weight");
        using var cpu = Device.Create(DeviceKind.Cpu);
        var reference = OpExecution.Execute(cpu, spec, spec.DeviceCase);
        Assert.True(OpSpecChecks.Compare(spec, reference, reference).Pass);

        var grads = reference.InputGrads.Select(g => g?.ToArray()).ToArray();
        grads[1]![7] += 1e-3f; // the weight's gradient, far above 2 × the spec's backward tolerance
        var perturbed = reference with { InputGrads = grads };
        var agreement = OpSpecChecks.Compare(spec, perturbed, reference);
        Assert.False(agreement.Pass);
        Assert.Contains("gradient of input 1", agreement.Failure);
        Assert.Contains("worst at [7]", agreement.Failure);
        Assert.True(agreement.MaxAbsDiff >= 1e-3 * 0.99, $"max abs {agreement.MaxAbsDiff}");
        Assert.StartsWith("  FAIL rms_norm_weight", agreement.Describe());
    }

    [Fact]
    public void APerturbedOrMissingOutputIsReportedAsAFailure()
    {
        var spec = AllOpSpecs.Get("gelu");
        using var cpu = Device.Create(DeviceKind.Cpu);
        var reference = OpExecution.Execute(cpu, spec, spec.DeviceCase);

        var output = reference.Outputs[0].ToArray();
        output[^1] = float.NaN;
        var nan = OpSpecChecks.Compare(spec, reference with { Outputs = [output] }, reference);
        Assert.False(nan.Pass);
        Assert.Contains("output 0", nan.Failure);

        var none = OpSpecChecks.Compare(spec, reference with { Outputs = [], OutputShapes = [] }, reference);
        Assert.False(none.Pass);
        Assert.Contains("number of outputs: expected 1, got 0", none.Failure);
    }

    [Fact]
    public void TheReportShowsBothTolerancesOfAnOp()
    {
        var report = new DoctorReport();
        report.Kernels.Add(new KernelAgreement("gelu", 10, 1e-7, 1e-6, new Tolerance(2e-9, 2e-6), new Tolerance(8e-7, 2e-6), true));
        report.Kernels.Add(new KernelAgreement("scale", 10, 0, 0, new Tolerance(1e-6, 1e-6), null, false, "scale: 1 of 10 values outside"));
        var md = report.ToMarkdown();
        Assert.Contains("| gelu | 10 | 1E-07 | 1E-06 | 2E-09 + 2E-06 | 8E-07 + 2E-06 | yes |", md);
        Assert.Contains("| scale | 10 | 0 | 0 | 1E-06 + 1E-06 | - | **NO** |", md);
    }
}
