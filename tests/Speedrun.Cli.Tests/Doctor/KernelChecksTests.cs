using Speedrun.Cli.Doctor;
using Speedrun.Kernels.Device;

namespace Speedrun.Cli.Tests.Doctor;

/// <summary>The doctor's CUDA-vs-CPU agreement cases run here CPU-vs-CPU: every case must execute and agree
/// with itself, so the GPU machine never meets a broken case.</summary>
public class KernelChecksTests
{
    [Fact]
    public void EveryCaseRunsAndAgreesOnTheCpu()
    {
        using var a = Device.Create(DeviceKind.Cpu);
        using var b = Device.Create(DeviceKind.Cpu);
        var report = new DoctorReport();
        KernelChecks.Run(a, b, report, TextWriter.Null);
        Assert.Empty(report.Errors);
        Assert.True(report.Kernels.Count >= 30, $"only {report.Kernels.Count} cases");
        Assert.All(report.Kernels, k => Assert.True(k.Pass, $"{k.Op}: max abs {k.MaxAbsDiff}"));
    }
}
